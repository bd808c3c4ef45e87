"""Stand-in statistics: report scalars by name, read means through a Collector."""

import re

import numpy as np
import torch

_rank = 0
_sums = {}  # name -> [count, sum]


def init_multiprocessing(rank, sync_device):
    global _rank
    _rank = rank


def report(name, value):
    values = torch.as_tensor(value).detach().flatten().to(torch.float64).cpu()
    entry = _sums.setdefault(name, [0, 0.0])
    entry[0] += values.numel()
    entry[1] += float(values.sum())
    return value


def report0(name, value):
    return report(name, value) if _rank == 0 else value


class Collector:
    def __init__(self, regex=".*", keep_previous=True):
        self._regex = re.compile(regex)
        self._seen = {}
        self._delta = {}
        self.update()  # count only what is reported after construction
        self._delta = {}

    def names(self):
        return [name for name in _sums if self._regex.fullmatch(name)]

    def update(self):
        self._delta = {}
        for name in self.names():
            count, total = _sums[name]
            seen_count, seen_total = self._seen.get(name, (0, 0.0))
            self._delta[name] = (count - seen_count, total - seen_total)
            self._seen[name] = (count, total)

    def num(self, name):
        return self._delta.get(name, (0, 0.0))[0]

    def mean(self, name):
        count, total = self._delta.get(name, (0, 0.0))
        return total / count if count else float("nan")

    def as_dict(self):
        return {
            name: {"num": self.num(name), "mean": self.mean(name)}
            for name in self._delta
        }

    def __getitem__(self, name):
        return self.mean(name)


def _finite(value):
    return bool(np.isfinite(value))
