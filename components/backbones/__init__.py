"""Named built-in backbones (`backbone.name`): a registry, converters into both frameworks, a shared cache.

`registry` is a plain table (name -> kind, image size, channels, preprocessing,
converter) with no TensorFlow or torch imports; `cache` converts a name once into a
TF Hub module and a PyTorch backbone under `$RETRAIN_CACHE` (default
`~/.cache/retrain`); `efficientnet_lite` holds the EfficientNet-Lite0 architecture in
PyTorch and `efficientnet_lite_tf` its tf_keras port.
"""
