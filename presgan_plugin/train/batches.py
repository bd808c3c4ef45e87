"""A resumable stream of real batches from an in-memory dataset.

Each epoch is a permutation drawn from ``(seed, epoch)``; the stream's state
is ``(epoch, position)``, so a resumed run sees exactly the batches the
uninterrupted run would have seen. Under distributed training each rank takes
every ``world_size``-th batch of the same permutation.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from presgan_plugin.data import ImageDataset, PointDataset


def dataset_to_tensor(dataset: Dataset) -> torch.Tensor:
    """The whole dataset as one tensor (uint8 images or float points)."""
    if isinstance(dataset, ImageDataset):
        return dataset.images
    if isinstance(dataset, PointDataset):
        return dataset.points
    raise TypeError(
        f"expected an ImageDataset or PointDataset, got {type(dataset).__name__}"
    )


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 images to float in [-1, 1]; float points unchanged."""
    if batch.dtype == torch.uint8:
        return batch.float() / 127.5 - 1.0
    return batch.float()


class BatchStream:
    """Endless, deterministic, resumable batches of ``batch_size`` rows."""

    def __init__(
        self,
        data: torch.Tensor,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(data) < batch_size * world_size:
            raise ValueError(
                f"the dataset has {len(data)} items, fewer than one batch of "
                f"{batch_size} per process ({world_size} processes); lower "
                "--batch-size or use more data"
            )
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    @property
    def batches_per_epoch(self) -> int:
        """Whole batches per epoch for one process."""
        return len(self.data) // (self.batch_size * self.world_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(len(self.data), generator=generator)

    def next(self) -> torch.Tensor:
        """The next batch, in the model's range."""
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = self._permutation(self.epoch)
        global_batch = self.position * self.world_size + self.rank
        start = global_batch * self.batch_size
        indices = self._order[start : start + self.batch_size]
        self.position += 1
        return to_model_range(self.data[indices])

    def state_dict(self) -> dict[str, int]:
        """Where the stream is."""
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a saved position."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = self._permutation(self.epoch)
