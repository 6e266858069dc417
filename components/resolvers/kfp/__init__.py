"""Container-step resolvers for open-source Kubeflow Pipelines, which cannot run TFX `resolver` executors."""
