"""Orders a Hub module's variables into blocks by depth, from the layer names kept in their names.

Kept free of TensorFlow imports: the config schema validates `block_pattern` with it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

DEFAULT_BLOCK_PATTERN = r"(?:block|layer|stage)_?(\d+)"
STEM = "stem"


@dataclass(frozen=True)
class Block:
    """Backbone variables that belong to one depth level (`stem` below the numbered blocks)."""

    name: str
    variables: tuple[Any, ...]


def backbone_blocks(variables: Sequence[Any], pattern: str = DEFAULT_BLOCK_PATTERN) -> list[Block]:
    """Groups backbone variables into blocks ordered bottom (index 0) to top by their block number.

    Variables whose name has no block number form the `stem` block at the bottom.
    """
    numbered: dict[int, list[Any]] = {}
    stem: list[Any] = []
    for variable in variables:
        match = re.search(pattern, variable.name)
        if match:
            numbered.setdefault(int(match.group(1)), []).append(variable)
        else:
            stem.append(variable)
    blocks = [Block(STEM, tuple(stem))] if stem else []
    blocks.extend(Block(f"block{number}", tuple(numbered[number])) for number in sorted(numbered))
    return blocks
