"""Plugin registries: hosts and losses, found through entry points.

Third-party packages add a host or a loss by declaring an entry point in the
group ``presgan_plugin.hosts`` or ``presgan_plugin.losses``. Entry points are
discovered lazily, once, sorted by name; a plugin that fails to load raises
:class:`PluginLoadError` naming its package and keeping the original error.
Objects registered in-process with :func:`register_host` or
:func:`register_loss` take precedence over entry points of the same name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

HOST_GROUP = "presgan_plugin.hosts"
LOSS_GROUP = "presgan_plugin.losses"
GROUPS = (HOST_GROUP, LOSS_GROUP)

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PluginLoadError(ImportError):
    """A plugin's entry point could not be loaded."""

    def __init__(self, spec: PluginSpec, original: BaseException) -> None:
        self.spec = spec
        self.original = original
        super().__init__(
            f"failed to load {spec.group} plugin {spec.name!r} "
            f"({spec.value}) from package {spec.package!r}: "
            f"{type(original).__name__}: {original}"
        )


@dataclass(frozen=True)
class PluginSpec:
    """A plugin found in an entry-point group, not yet imported."""

    name: str
    value: str
    group: str
    package: str

    def load(self) -> LoadedPlugin:
        """Import the plugin's object."""
        entry_point = EntryPoint(self.name, self.value, self.group)
        try:
            obj = entry_point.load()
        except Exception as error:
            raise PluginLoadError(self, error) from error
        return LoadedPlugin(self, obj)


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin whose object has been imported."""

    spec: PluginSpec
    obj: Any


_registered: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
_loaded: dict[tuple[str, str], LoadedPlugin] = {}


@functools.cache
def find_plugins(group: str) -> tuple[PluginSpec, ...]:
    """Entry points of ``group`` from installed distributions, sorted, deduplicated."""
    _check_group(group)
    found: dict[str, PluginSpec] = {}
    for entry_point in entry_points(group=group):
        package = entry_point.dist.name if entry_point.dist is not None else "unknown"
        found.setdefault(
            entry_point.name,
            PluginSpec(entry_point.name, entry_point.value, group, package),
        )
    return tuple(found[name] for name in sorted(found))


def available(group: str) -> list[str]:
    """Names usable in ``group``: entry points and in-process registrations."""
    names = {spec.name for spec in find_plugins(group)} | set(_registered[group])
    return sorted(names)


def load(group: str, name: str) -> Any:
    """Return the object registered as ``name`` in ``group``, loading it once."""
    _check_group(group)
    if name in _registered[group]:
        return _registered[group][name]
    if (group, name) in _loaded:
        return _loaded[(group, name)].obj
    for spec in find_plugins(group):
        if spec.name == name:
            loaded = spec.load()
            _loaded[(group, name)] = loaded
            return loaded.obj
    raise KeyError(
        f"no {group} plugin named {name!r}; available: {', '.join(available(group))}"
    )


def register(group: str, name: str, obj: Any, *, base: type | None = None) -> None:
    """Register ``obj`` under ``name`` in ``group`` for this process.

    Raises ``ValueError`` for a malformed or duplicate name and ``TypeError``
    when ``obj`` is not a subclass of ``base``.
    """
    _check_group(group)
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ValueError(
            f"plugin name {name!r} must start with a letter or digit and hold only "
            "letters, digits, '_', '.' and '-'"
        )
    if name in _registered[group]:
        raise ValueError(f"a {group} plugin named {name!r} is already registered")
    if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
        raise TypeError(
            f"{group} plugin {name!r} must be a subclass of {base.__name__}"
        )
    _registered[group][name] = obj


def unregister(group: str, name: str) -> None:
    """Remove an in-process registration (tests use this)."""
    _registered[group].pop(name, None)


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of {GROUPS}")


def load_host(name: str) -> Any:
    """The host adapter class registered as ``name``."""
    return load(HOST_GROUP, name)


def load_loss(name: str) -> Any:
    """The loss class registered as ``name``."""
    return load(LOSS_GROUP, name)
