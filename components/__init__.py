"""retrain components: custom TFX components and the trainer, transform and example modules.

`hub.KerasLayer` needs the Keras 2 API (`tf_keras`), so the legacy-Keras switch is
set here, before anything imports TensorFlow; users never have to set it. Optional
modules that only cost start-up time are blocked here too (compat/optional_imports.py).
"""

import os

from retrain.components.compat.optional_imports import skip_optional_imports

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
skip_optional_imports()
