"""What trains and how fast: the head plus the top backbone blocks, each group at its own learning rate.

`fine_tune` trains the backbone slower than the head; `incremental` trains only the
top K blocks with layer-wise learning-rate decay. Variables in no group receive no
update. The variables are the framework's own (TF variables or PyTorch parameters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from retrain.components.training_core.blocks import Block


@dataclass(frozen=True)
class VariableGroup:
    """Variables updated together by one optimizer at one learning rate."""

    name: str
    variables: tuple[Any, ...]
    learning_rate: float


def training_groups(
    head: Sequence[Any],
    blocks: Sequence[Block],
    learning_rate: float,
    backbone_learning_rate_scale: float = 1.0,
    unfreeze_blocks: int = 0,
    layer_decay: float = 1.0,
) -> list[VariableGroup]:
    """The head at `learning_rate`, plus the top `unfreeze_blocks` blocks (all with a negative value).

    The top unfrozen block trains at `learning_rate * backbone_learning_rate_scale`,
    each block below it `layer_decay` times slower than the one above.
    """
    groups = [VariableGroup("head", tuple(head), learning_rate)]
    if unfreeze_blocks < 0:
        chosen = list(blocks)
    else:
        chosen = list(blocks)[len(blocks) - unfreeze_blocks :] if unfreeze_blocks else []
    for depth_from_top, block in enumerate(reversed(chosen)):
        rate = learning_rate * backbone_learning_rate_scale * layer_decay**depth_from_top
        groups.append(VariableGroup(block.name, block.variables, rate))
    return groups
