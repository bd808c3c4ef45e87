"""Plugin discovery through entry points."""

from importlib.metadata import EntryPoint

import pytest

from presgan_plugin import registry
from presgan_plugin.core.losses import PresGANLoss


class FakeDist:
    name = "thirdparty-gan"


def fake_entry_points(*items):
    points = []
    for name, value in items:
        point = EntryPoint(name, value, registry.HOST_GROUP)
        object.__setattr__(point, "dist", FakeDist())
        points.append(point)

    def entry_points(group):
        return points if group == registry.HOST_GROUP else []

    return entry_points


@pytest.fixture
def fresh_registry(monkeypatch):
    registry.find_plugins.cache_clear()
    registry._loaded.clear()
    yield monkeypatch
    registry.find_plugins.cache_clear()
    registry._loaded.clear()


def test_installed_entry_points_are_found():
    assert {"dcgan", "mlp", "stylegan2"} <= set(registry.available(registry.HOST_GROUP))
    assert registry.load_loss("presgan") is PresGANLoss


def test_sorted_and_deduplicated(fresh_registry):
    fresh_registry.setattr(
        registry,
        "entry_points",
        fake_entry_points(
            ("zeta", "math:pi"), ("alpha", "math:e"), ("zeta", "math:tau")
        ),
    )
    specs = registry.find_plugins(registry.HOST_GROUP)
    assert [s.name for s in specs] == ["alpha", "zeta"]
    assert specs[1].value == "math:pi"
    assert registry.load_host("alpha") == pytest.approx(2.718281828)


def test_failing_plugin_names_its_package(fresh_registry):
    fresh_registry.setattr(
        registry,
        "entry_points",
        fake_entry_points(("broken", "no_such_module_xyz:Host")),
    )
    with pytest.raises(registry.PluginLoadError, match="thirdparty-gan") as info:
        registry.load_host("broken")
    assert isinstance(info.value.original, ModuleNotFoundError)


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="dcgan"):
        registry.load_host("nonexistent-host")


def test_register_checks_name_and_base():
    with pytest.raises(ValueError, match="must start"):
        registry.register(registry.LOSS_GROUP, "bad name", PresGANLoss)
    with pytest.raises(TypeError, match="subclass"):
        registry.register(registry.LOSS_GROUP, "x", int, base=PresGANLoss)
    registry.register(registry.LOSS_GROUP, "mine", PresGANLoss, base=PresGANLoss)
    try:
        with pytest.raises(ValueError, match="already registered"):
            registry.register(registry.LOSS_GROUP, "mine", PresGANLoss)
        assert registry.load_loss("mine") is PresGANLoss
    finally:
        registry.unregister(registry.LOSS_GROUP, "mine")


def test_unknown_group():
    with pytest.raises(ValueError, match="unknown plugin group"):
        registry.available("presgan_plugin.samplers")
