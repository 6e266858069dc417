"""The LabelMap artifact's MLMD type name (no TFX import: run summaries match artifacts by it)."""

LABEL_MAP_TYPE_NAME = "retrain.LabelMap"
