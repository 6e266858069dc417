"""Kubeflow Pipelines: compiling the retrain pipeline, submitting and scheduling it on a cluster."""
