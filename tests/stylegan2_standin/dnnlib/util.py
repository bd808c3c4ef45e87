"""Dotted-name lookup, construction by name, and a local-file open_url."""

import importlib


class EasyDict(dict):
    """A dict whose keys are also attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        del self[name]


def get_obj_by_name(name):
    """Import the longest importable module prefix of ``name``, then walk attributes."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def call_func_by_name(*args, func_name=None, **kwargs):
    return get_obj_by_name(func_name)(*args, **kwargs)


def construct_class_by_name(*args, class_name=None, **kwargs):
    return call_func_by_name(*args, func_name=class_name, **kwargs)


def open_url(url, **_kwargs):
    """Open a local file (the stand-in never downloads)."""
    return open(url, "rb")
