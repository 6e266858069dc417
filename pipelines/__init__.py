"""retrain pipelines: configuration, pipeline factory, runners and the CLI.

`hub.KerasLayer` needs the Keras 2 API (`tf_keras`), so the legacy-Keras switch is
set here, before anything imports TensorFlow; users never have to set it.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
