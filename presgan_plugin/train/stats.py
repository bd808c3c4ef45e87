"""One reporter for every training scalar: slash keys, summed up once per tick."""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path

import torch


class StatsReporter:
    """Accumulates scalars between ticks; ``summary()`` gives their means.

    Values are kept as tensors until the tick, so reporting on a GPU does not
    force a synchronisation every iteration.
    """

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = defaultdict(int)

    def report(self, key: str, value: torch.Tensor | float) -> None:
        """Add one observation of ``key`` (e.g. ``Loss/G/entropy``)."""
        value = torch.as_tensor(value).detach().float().mean()
        self._sums[key] = self._sums[key] + value if key in self._sums else value
        self._counts[key] += 1

    def report_dict(self, values: dict[str, torch.Tensor]) -> None:
        """Report every entry of a dict of scalars."""
        for key, value in values.items():
            self.report(key, value)

    def summary(self) -> dict[str, float]:
        """Means since the last summary, then reset."""
        means = {
            key: float(total.item()) / self._counts[key]
            for key, total in sorted(self._sums.items())
        }
        self._sums.clear()
        self._counts.clear()
        return means


def append_jsonl(path: str | os.PathLike[str], record: dict) -> None:
    """Append one JSON line (non-finite floats written as null) and flush it."""
    clean = {
        key: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for key, v in record.items()
    }
    with Path(path).open("a") as file:
        file.write(json.dumps(clean) + "\n")
        file.flush()
