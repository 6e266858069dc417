"""Optional third-party modules that a retrain process must not import (contracts in tests/test_compat.py)."""

from __future__ import annotations

import sys

# jsonschema 4.26.0 (jsonschema/_format.py) imports rfc3987_syntax, when installed, inside
# `suppress(ImportError)` to check the "iri" and "iri-reference" formats. Importing it builds
# Lark Earley parsers: 1.1-1.4 s. It comes with any `tfx.components` import (its package
# imports InfraValidator -> kubernetes -> kubernetes_validate -> jsonschema); only
# jupyter-events, which retrain never runs, installs it.
SKIPPED_MODULES = ("rfc3987_syntax",)


def skip_optional_imports() -> None:
    """Makes `import` of each module in SKIPPED_MODULES raise ImportError, unless it is already imported.

    A `None` entry in `sys.modules` is Python's documented way to block an import; the
    importers above treat the ImportError as "not installed".
    """
    for name in SKIPPED_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
