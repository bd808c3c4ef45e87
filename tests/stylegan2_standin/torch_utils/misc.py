"""Stand-in helpers: DDP sync, copying state by name, an endless sampler."""

import contextlib

import numpy as np
import torch


def constant(value, shape=None, dtype=None, device=None):
    return torch.as_tensor(value, dtype=dtype, device=device)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    return torch.nan_to_num(input, nan=nan, posinf=posinf, neginf=neginf, out=out)


@contextlib.contextmanager
def ddp_sync(module, sync):
    if isinstance(module, torch.nn.parallel.DistributedDataParallel) and not sync:
        with module.no_sync():
            yield
    else:
        yield


def copy_params_and_buffers(src_module, dst_module, require_all=False):
    source = dict(src_module.named_parameters()) | dict(src_module.named_buffers())
    targets = dict(dst_module.named_parameters()) | dict(dst_module.named_buffers())
    for name, tensor in targets.items():
        assert name in source or not require_all, name
        if name in source:
            tensor.copy_(source[name].detach()).requires_grad_(tensor.requires_grad)


class InfiniteSampler(torch.utils.data.Sampler):
    """Shuffled indices of this rank, forever (passes the dataset to the base
    class, as the host does)."""

    def __init__(self, dataset, rank=0, num_replicas=1, shuffle=True, seed=0):
        super().__init__(dataset)
        self.dataset, self.rank, self.num_replicas = dataset, rank, num_replicas
        self.shuffle, self.seed = shuffle, seed

    def __iter__(self):
        order = np.arange(len(self.dataset))
        if self.shuffle:
            np.random.RandomState(self.seed).shuffle(order)
        index = 0
        while True:
            if index % self.num_replicas == self.rank:
                yield int(order[index % order.size])
            index += 1
