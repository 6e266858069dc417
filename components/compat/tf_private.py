"""Private TensorFlow 2.16.2 symbols, one function each (see the package docstring; contracts in tests/test_compat.py)."""

from __future__ import annotations

from tensorflow.python.autograph.core import config as autograph_config


def skip_autograph_conversion(module: str) -> None:
    """Makes AutoGraph call the functions of `module` (and its submodules) unconverted; adds the rule once.

    Upstream: `CONVERSION_RULES` and `DoNotConvert` in tensorflow/python/autograph/core/config.py
    (a tuple of rules AutoGraph reads at each call it considers converting; the
    first matching rule decides). Needed to skip `tf_keras` as TensorFlow skips
    `keras` (components/hub_trainer/autograph.py).
    """
    rules = autograph_config.CONVERSION_RULES
    if not any(isinstance(rule, autograph_config.DoNotConvert) and rule.matches(module) for rule in rules):
        autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert(module), *rules)
