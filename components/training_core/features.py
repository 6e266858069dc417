"""Names of the transformed features, and which records carry a label: Transform, both trainers and the evaluators."""

from __future__ import annotations

from typing import TypeVar

LABEL_ID = "label_id"
MODEL_INPUT = "model_input"
UNKNOWN_LABEL_ID = -1  # Transform's id of a label outside the label map (or of an empty input)

LabelIds = TypeVar("LabelIds")


def labelled(label_ids: LabelIds) -> LabelIds:
    """Which label ids name a class (a bool per id): records without one are left out of training and evaluation.

    Works element-wise on ints, NumPy arrays, TensorFlow and PyTorch tensors alike.
    """
    return label_ids > UNKNOWN_LABEL_ID  # type: ignore[operator,return-value]
