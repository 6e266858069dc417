"""retrain pipelines: configuration, pipeline factory, runners and the CLI.

Importing `retrain.components` first sets the legacy-Keras switch (`hub.KerasLayer`
needs `tf_keras`) and blocks start-up-only optional modules, before anything imports
TensorFlow or TFX; users never have to set either.
"""

import retrain.components  # noqa: F401
