"""The label map: stable class ids, per-split counts, class weights and label problems.

Ids never move: labels of the previous map keep their ids, labels seen for the
first time are appended (alphabetically, so the result does not depend on data
order). Nothing here runs Beam or TFX; the LabelPrep executor feeds it counts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping, Optional

from tfx.dsl.io import fileio

from retrain.components.label_prep.settings import LabelSettings

LABEL_MAP_FILE = "label_map.json"
TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class SplitCounts:
    """What one split holds: examples per label, plus records that cannot be used."""

    per_label: Mapping[str, int]
    empty_label: int = 0
    missing_input: int = 0


@dataclass
class LabelMap:
    """Class names in id order and everything the trainers need to know about them."""

    labels: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    unusable: dict[str, dict[str, int]] = field(default_factory=dict)
    class_weights: list[float] = field(default_factory=list)
    label_smoothing: float = 0.0
    new_labels: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def id_of(self, label: str) -> int:
        """The id of `label` (ValueError if unknown)."""
        return self.labels.index(label)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "LabelMap":
        return cls(**json.loads(text))


def save_label_map(label_map: LabelMap, directory: str) -> None:
    """Writes `label_map.json` into `directory`."""
    fileio.makedirs(directory)
    with fileio.open(os.path.join(directory, LABEL_MAP_FILE), "w") as handle:
        handle.write(label_map.to_json())


def load_label_map(directory: str) -> LabelMap:
    """Reads `label_map.json` from `directory`."""
    with fileio.open(os.path.join(directory, LABEL_MAP_FILE), "r") as handle:
        return LabelMap.from_json(handle.read())


def assign_ids(previous: Iterable[str], observed: Iterable[str]) -> tuple[list[str], list[str]]:
    """Keeps every previous label at its id and appends unseen ones sorted; returns (labels, new labels)."""
    labels = list(previous)
    known = set(labels)
    new = sorted(set(observed) - known)
    return labels + new, new


def balanced_class_weights(labels: list[str], train_counts: Mapping[str, int]) -> list[float]:
    """n_examples / (n_present_classes * count) per class; 1.0 for classes without train examples."""
    present = {label: n for label, n in train_counts.items() if n > 0}
    total = sum(present.values())
    return [total / (len(present) * present[label]) if label in present else 1.0 for label in labels]


def find_problems(labels: list[str], splits: Mapping[str, SplitCounts], settings: LabelSettings) -> list[str]:
    """Human-readable label problems, each with its counts."""
    problems = []
    train = splits.get(TRAIN_SPLIT, SplitCounts(per_label={})).per_label
    observed = {label for counts in splits.values() for label in counts.per_label}
    if len(labels) > settings.max_classes:
        problems.append(f"{len(labels)} classes, more than labels.max_classes={settings.max_classes}")
    too_few = sorted((n, label) for label, n in train.items() if n < settings.min_examples_per_class)
    if too_few:
        listed = ", ".join(f"'{label}' ({n})" for n, label in too_few[:5])
        problems.append(f"{len(too_few)} class(es) with fewer than {settings.min_examples_per_class} train examples: {listed}")
    for split, counts in sorted(splits.items()):
        if split == TRAIN_SPLIT:
            continue
        unseen = sorted(label for label in counts.per_label if label not in train)
        if unseen:
            listed = ", ".join(f"'{label}' ({counts.per_label[label]})" for label in unseen[:5])
            problems.append(f"{len(unseen)} label(s) in split '{split}' never seen in train: {listed}")
    for split, counts in sorted(splits.items()):
        if counts.empty_label:
            problems.append(f"{counts.empty_label} record(s) in split '{split}' have an empty or whitespace label")
        if counts.missing_input:
            problems.append(f"{counts.missing_input} record(s) in split '{split}' have no input feature value")
    if not observed:
        problems.append("no labelled examples at all")
    return problems


def build_label_map(splits: Mapping[str, SplitCounts], previous: Optional[LabelMap], settings: LabelSettings) -> LabelMap:
    """The label map for this run: stable ids, counts, class weights and problems."""
    observed = {label for counts in splits.values() for label in counts.per_label}
    labels, new = assign_ids(previous.labels if previous else [], observed)
    train = splits.get(TRAIN_SPLIT, SplitCounts(per_label={})).per_label
    weights = balanced_class_weights(labels, train) if settings.class_weighting == "balanced" else [1.0] * len(labels)
    return LabelMap(
        labels=labels,
        counts={split: dict(sorted(counts.per_label.items())) for split, counts in splits.items()},
        unusable={split: {"empty_label": counts.empty_label, "missing_input": counts.missing_input} for split, counts in splits.items()},
        class_weights=weights,
        label_smoothing=settings.label_smoothing,
        new_labels=new if previous else [],
        problems=find_problems(labels, splits, settings),
    )
