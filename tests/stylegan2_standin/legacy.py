"""Stand-in network-pickle loader."""

import pickle

import torch


def load_network_pkl(f, force_fp16=False):
    data = pickle.Unpickler(f).load()
    data.setdefault("training_set_kwargs", None)
    data.setdefault("augment_pipe", None)
    for key in ("G", "D", "G_ema"):
        assert isinstance(data[key], torch.nn.Module)
    return data
