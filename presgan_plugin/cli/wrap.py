"""``presgan-wrap``: train a PresGAN inside a host codebase.

The first options choose the host (``--host NAME``, default ``dcgan``); the
rest of the command line goes to that host's own command, so
``presgan-wrap --host NAME --help`` lists the host's options.
"""

from __future__ import annotations

import sys

import click

from presgan_plugin import __version__, registry
from presgan_plugin.hosts.base import Host

DEFAULT_HOST = "dcgan"


def split_host(args: list[str]) -> tuple[str | None, list[str]]:
    """Take ``--host NAME`` (or ``--host=NAME``) out of ``args``."""
    rest: list[str] = []
    host = None
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--host":
            if index + 1 >= len(args):
                raise click.UsageError("--host needs a value, e.g. --host dcgan")
            host = args[index + 1]
            index += 2
            continue
        if arg.startswith("--host="):
            host = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        index += 1
    return host, rest


def general_help() -> str:
    """Help text shown by ``presgan-wrap --help`` without a host."""
    hosts = ", ".join(registry.available(registry.HOST_GROUP))
    return (
        "Usage: presgan-wrap [--host NAME] [HOST OPTIONS]\n\n"
        "  Train a Prescribed GAN (learned output noise plus an HMC entropy\n"
        "  regulariser) inside a host codebase.\n\n"
        f"  Hosts: {hosts} (default: {DEFAULT_HOST}).\n"
        "  presgan-wrap --host NAME --help lists a host's options.\n\n"
        "Options:\n"
        "  --host NAME  the host adapter to run\n"
        "  --version    show the version and exit\n"
        "  --help       show this message and exit\n"
    )


def load_host(name: str) -> Host:
    """Instantiate the host adapter ``name``, with a usage error if unknown."""
    try:
        host_class = registry.load_host(name)
    except KeyError:
        available = ", ".join(registry.available(registry.HOST_GROUP))
        raise click.UsageError(
            f"--host {name!r} is not a known host; available: {available}"
        ) from None
    return host_class()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``presgan-wrap``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        host_name, rest = split_host(args)
        if "--version" in rest:
            click.echo(f"presgan-wrap {__version__}")
            return
        if host_name is None and ("--help" in rest or "-h" in rest):
            click.echo(general_help())
            return
        host = load_host(host_name or DEFAULT_HOST)
    except click.UsageError as error:
        error.show()
        sys.exit(error.exit_code)
    prog_name = f"presgan-wrap --host {host.name}"
    host.command().main(args=rest, prog_name=prog_name, auto_envvar_prefix="PRESGAN")


if __name__ == "__main__":
    main()
