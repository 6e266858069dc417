"""The span range configs the pipeline uses, local and on Kubeflow: one pinned span, or a rolling window."""

from __future__ import annotations

from tfx.proto import range_config_pb2


def static_span(span: int) -> range_config_pb2.RangeConfig:
    """Pins ExampleGen to one span (back-filling, or a run's `span` parameter)."""
    return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span))


def rolling_window(num_spans: int) -> range_config_pb2.RangeConfig:
    """The newest `num_spans` spans ingested so far (the span_window resolver's range)."""
    return range_config_pb2.RangeConfig(rolling_range=range_config_pb2.RollingRange(num_spans=num_spans))
