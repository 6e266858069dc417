"""The LabelMap artifact type: a directory holding `label_map.json`."""
from tfx.types import artifact


class LabelMap(artifact.Artifact):
    """Stable class ids, counts, class weights and label problems of one run."""

    TYPE_NAME = "retrain.LabelMap"
