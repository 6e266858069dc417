"""Default learning rates per task and training mode: recipes that train without collapsing.

`training.learning_rate` (the head's rate) and `training.backbone_learning_rate_scale`
(the backbone's rate as a share of it) default to `null`, which means "the recipe of
this task and mode". A value set in the config always wins. A backbone that knows its
own recipe (a named backbone's registry entry) passes it as `backbone_recipes`, which
sits between the config and the task defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

CONFIG = "config"


@dataclass(frozen=True)
class Recipe:
    """The head's learning rate and the backbone's share of it (`fine_tune`, `incremental` phase 2)."""

    learning_rate: float
    backbone_learning_rate_scale: float


# Images: what the digits example has always trained with (measured: feature_extraction 0.86-0.89,
# fine_tune and incremental as tests/test_training_modes.py checks). Text: a head on unit-length
# sentence embeddings needs a large step (the text example reaches 1.0 with 0.1); a transformer
# encoder fine-tunes at about 5e-5 with the head at 1e-3 (at 0.01 it collapses to one class).
TASK_RECIPES: Mapping[tuple[str, str], Recipe] = {
    ("image_classification", "feature_extraction"): Recipe(1e-2, 0.1),
    ("image_classification", "fine_tune"): Recipe(1e-2, 0.1),
    ("image_classification", "incremental"): Recipe(1e-2, 0.1),
    ("text_classification", "feature_extraction"): Recipe(1e-1, 0.1),
    ("text_classification", "fine_tune"): Recipe(1e-3, 0.05),
    ("text_classification", "incremental"): Recipe(1e-1, 5e-4),
}


@dataclass(frozen=True)
class EffectiveRates:
    """The rates a run trains with and where each came from (`config` or the recipe's name)."""

    learning_rate: float
    backbone_learning_rate_scale: float
    source: str


def effective_rates(
    task_type: str,
    mode: str,
    learning_rate: Optional[float],
    backbone_learning_rate_scale: Optional[float],
    backbone_recipes: Optional[Mapping[str, Recipe]] = None,
) -> EffectiveRates:
    """The config's rates where set, else the backbone's recipe for `mode`, else the task's."""
    own = backbone_recipes is not None and mode in backbone_recipes
    recipe = backbone_recipes[mode] if own else TASK_RECIPES[(task_type, mode)]
    name = f"{'backbone' if own else task_type} {mode} recipe"
    from_config = [value is not None for value in (learning_rate, backbone_learning_rate_scale)]
    source = CONFIG if all(from_config) else f"{CONFIG} + {name}" if any(from_config) else name
    return EffectiveRates(
        learning_rate if learning_rate is not None else recipe.learning_rate,
        backbone_learning_rate_scale if backbone_learning_rate_scale is not None else recipe.backbone_learning_rate_scale,
        source,
    )
