"""The exception raised for data files that cannot be used."""

from __future__ import annotations


class DataError(ValueError):
    """A data file or folder is missing, malformed or holds the wrong content.

    The message names the file, what was expected, what was found and how to
    fix it. It subclasses `ValueError`, so callers that catch bad input in
    general also catch it.
    """
