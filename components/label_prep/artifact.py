"""The LabelMap artifact type: a directory holding `label_map.json`."""

from tfx.types import artifact

from retrain.components.label_prep.type_name import LABEL_MAP_TYPE_NAME


class LabelMap(artifact.Artifact):
    """Stable class ids, counts, class weights and label problems of one run."""

    TYPE_NAME = LABEL_MAP_TYPE_NAME
