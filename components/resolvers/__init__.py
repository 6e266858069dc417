"""Which earlier artifacts a run builds on: the baseline model, the previous label map and warm-start model, per framework.

Local runs resolve with TFX resolver strategies (baseline.py, label_map.py, framework.py); open-source Kubeflow
Pipelines cannot run those, so `kfp/` holds the same resolution as container steps over ML Metadata."""
