"""Orders a backbone's variables into blocks by depth, from the layer names kept in their names.

Both trainers group this way (TF variables by `name`, PyTorch parameters by their dotted
names with dots read as underscores); the config schema validates `block_pattern` with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

DEFAULT_BLOCK_PATTERN = r"(?:block|layer|stage)_?(\d+)"
STEM = "stem"


@dataclass(frozen=True)
class Block:
    """Backbone variables that belong to one depth level (`stem` below the numbered blocks)."""

    name: str
    variables: tuple[Any, ...]


def named_blocks(named: Iterable[tuple[str, Any]], pattern: str = DEFAULT_BLOCK_PATTERN) -> list[Block]:
    """Groups (name, variable) pairs into blocks ordered bottom (index 0) to top by the block number in the name.

    Variables whose name has no block number form the `stem` block at the bottom.
    """
    numbered: dict[int, list[Any]] = {}
    stem: list[Any] = []
    for name, variable in named:
        match = re.search(pattern, name)
        (numbered.setdefault(int(match.group(1)), []) if match else stem).append(variable)
    blocks = [Block(STEM, tuple(stem))] if stem else []
    return blocks + [Block(f"block{number}", tuple(numbered[number])) for number in sorted(numbered)]


def backbone_blocks(variables: Sequence[Any], pattern: str = DEFAULT_BLOCK_PATTERN) -> list[Block]:
    """`named_blocks` of variables that carry their own `name` (TensorFlow variables)."""
    return named_blocks(((variable.name, variable) for variable in variables), pattern)
