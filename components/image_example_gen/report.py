"""Accepted/rejected counts per input split, and the verdict against `max_rejected_fraction`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Optional

from retrain.components.image_example_gen.records import Rejection

COUNTS_FILE = "counts.json"  # beside the rejections, under `<examples uri>/rejected/` (properties.py)

COMPONENT_NAME = "ImageFolderExampleGen"


class TooManyRejections(RuntimeError):
    """More inputs were rejected than allowed, or none was accepted; the message is one line."""


@dataclass(frozen=True)
class SplitCounts:
    """How many inputs of one input split became examples and how many were rejected, with one rejection."""

    accepted: int
    rejected: int
    example: Optional[Rejection] = None

    def to_json(self) -> str:
        example = None if self.example is None else {"path": self.example.path, "reason": self.example.reason}
        return json.dumps({"accepted": self.accepted, "rejected": self.rejected, "example": example})

    @classmethod
    def from_json(cls, text: str) -> SplitCounts:
        values = json.loads(text)
        example = values.get("example")
        return cls(values["accepted"], values["rejected"], Rejection(**example) if example else None)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%" if fraction == 0 or fraction >= 0.001 else f"{fraction * 100:.2g}%"


def check_rejections(counts: Mapping[str, SplitCounts], max_rejected_fraction: float) -> Optional[str]:
    """Raises TooManyRejections when nothing was accepted or too much was rejected.

    Otherwise returns a warning line when anything was rejected, None when nothing was.
    """
    accepted = sum(split.accepted for split in counts.values())
    rejected = sum(split.rejected for split in counts.values())
    total = accepted + rejected
    examples = [split.example for _, split in sorted(counts.items()) if split.example is not None]
    example = f"; e.g. {examples[0].path}: {examples[0].reason}" if examples else ""
    if accepted == 0:
        raise TooManyRejections(f"{COMPONENT_NAME}: no image accepted ({rejected} of {total} files rejected){example}")
    if rejected == 0:
        return None
    fraction = rejected / total
    allowed = _percent(max_rejected_fraction)
    if fraction > max_rejected_fraction:
        raise TooManyRejections(f"{COMPONENT_NAME}: {rejected} of {total} files rejected ({_percent(fraction)} > {allowed} allowed){example}")
    return f"{COMPONENT_NAME}: {rejected} of {total} files rejected ({_percent(fraction)} <= {allowed} allowed){example}"
