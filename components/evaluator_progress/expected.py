"""The number of examples the running Evaluator is expected to evaluate, set by its executor.

Its own module because TFX reloads the extractors module named by `module_path` (`importlib.reload`
in tfx/utils/import_utils.py `import_func_from_module`, TFX 1.16):
a context variable defined there would be replaced between the executor setting it and
`custom_extractors` reading it.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Optional

_EXPECTED_EXAMPLES: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("expected_eval_examples", default=None)


@contextlib.contextmanager
def expected_examples(total: Optional[int]) -> Iterator[None]:
    """Within this block, `expected_total()` is `total` (None: unknown, progress without ETA)."""
    token = _EXPECTED_EXAMPLES.set(total)
    try:
        yield
    finally:
        _EXPECTED_EXAMPLES.reset(token)


def expected_total() -> Optional[int]:
    """The total set by the innermost `expected_examples` block (None outside one)."""
    return _EXPECTED_EXAMPLES.get()
