"""The contract of a host adapter."""

from __future__ import annotations

from typing import ClassVar

import click


class Host:
    """A codebase that ``presgan-wrap --host NAME`` can train a PresGAN in.

    A host adapter is registered in the ``presgan_plugin.hosts`` entry-point
    group. It provides the click command that ``presgan-wrap --host NAME``
    runs with the rest of the command line.
    """

    name: ClassVar[str] = "base"
    summary: ClassVar[str] = ""

    def command(self) -> click.Command:
        """Return the click command run by ``presgan-wrap --host NAME``."""
        raise NotImplementedError
