"""Stand-in: the weight-gradient switch (a flag; no custom op here)."""

import contextlib

enabled = False
weight_gradients_disabled = False


@contextlib.contextmanager
def no_weight_gradients(disable=True):
    global weight_gradients_disabled
    previous = weight_gradients_disabled
    weight_gradients_disabled = bool(disable)
    try:
        yield
    finally:
        weight_gradients_disabled = previous
