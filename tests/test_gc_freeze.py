"""Objects that exist before training stay out of garbage collection while it runs, and only then."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch

import retrain.pipelines  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from retrain.components.digits_example import data as digits
from retrain.components.digits_example.torch_backbone import DigitsCNN
from retrain.components.torch_trainer.model import Classifier
from retrain.components.torch_trainer.training import train_classifier
from retrain.components.training_core.collection import earlier_objects_frozen
from settings_data import plan as plan_of


class _Node:
    """A reference cycle: only the cycle collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _nothing_frozen():
    assert gc.get_freeze_count() == 0
    yield
    gc.unfreeze()


def test_earlier_cycles_wait_for_the_block_end_and_new_ones_are_collected() -> None:
    earlier = _Node()
    earlier_ref = weakref.ref(earlier)
    with earlier_objects_frozen():
        assert gc.get_freeze_count() > 0
        del earlier
        newer = _Node()
        newer_ref = weakref.ref(newer)
        del newer
        gc.collect()
        assert newer_ref() is None
        assert earlier_ref() is not None
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert earlier_ref() is None


def test_a_callers_own_freeze_is_kept() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with earlier_objects_frozen():
        pass
    assert gc.get_freeze_count() == frozen


def test_the_pytorch_trainer_trains_with_earlier_objects_frozen() -> None:
    target = digits.select_digits(digits.load_digits_images(), (5, 6, 7))
    train, _ = digits.few_shot_split(target, 8, seed=0)
    data = (torch.from_numpy(train.images), torch.from_numpy(np.searchsorted([5, 6, 7], train.labels)))
    torch.manual_seed(0)
    model = Classifier(DigitsCNN(), 128, 3)
    counts: list[int] = []
    plan = plan_of(mode="fine_tune", epochs=2, fine_tune_epochs=2, batch_size=8, learning_rate=1e-2, seed=3)
    train_classifier(model, data, plan, on_epoch_end=lambda record: counts.append(gc.get_freeze_count()))
    assert len(counts) == 2 and all(count > 0 for count in counts)
    assert gc.get_freeze_count() == 0
