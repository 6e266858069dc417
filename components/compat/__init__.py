"""The upgrade seam: every private TFX / TensorFlow / TFMA symbol the project uses, one function each.

Pinned upstream versions: TFX 1.16.0, TensorFlow 2.16.2, TFMA 0.47.1, Apache Beam 2.61.0. Each
function's docstring names the upstream file it reaches into and why the project
needs it; `tests/test_compat.py` holds one contract test per symbol, so an upgrade
that changes a symbol's signature or the behaviour relied on fails there, by name,
and this package is the one place to adapt.

- `tfx_private`: ExampleGen's hash partition and span/version file matching,
  the Kubeflow V2 executor runner's flag parser.
- `tfma_private`: the EvalRun serialization behind TFMA's `eval_config.json`.
- `tfma_files`: TFMA's generated metrics proto, loaded without importing TFMA (for `retrain history`).
- `tf_private`: AutoGraph's module conversion rules.
- `beam_private`: the CRC32C function of Beam's TFRecord coder.
- `optional_imports`: optional modules blocked because importing them only costs start-up time.
"""
