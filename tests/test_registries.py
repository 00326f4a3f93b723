"""Every extension point is a Registry that finds its own built-ins and finds a plugin the way an
installed package declares one (an entry point), here from a temporary folder on the path."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pytest

import ils
from ils.errors import ConfigError
from ils.registry import Registry

EXPECTED = {"task", "method", "metric", "head", "store", "source", "engine", "objective", "plan"}


def all_registries() -> dict[str, Registry]:
    """Every Registry object defined at module level anywhere in the ils package."""
    found = {}
    for mod in pkgutil.walk_packages(ils.__path__, prefix="ils."):
        module = importlib.import_module(mod.name)
        for value in vars(module).values():
            if isinstance(value, Registry):
                found[value.kind] = value
    return found


def test_the_registries_are_listed_and_find_their_built_ins():
    regs = all_registries()
    assert EXPECTED <= set(regs), sorted(regs)
    builtins = {"task": "ner", "method": "lora", "metric": "entity_f1", "head": "token", "store": "sqlite",
                "source": "default-encoder", "engine": "hf", "objective": "dpo",
                "plan": "map-reduce"}
    for kind, name in builtins.items():
        assert name in regs[kind].names(), (kind, regs[kind].names())


@pytest.fixture
def plugin_folder(tmp_path):
    """A folder holding an installed-looking package whose entry points give one object per registry."""
    regs = all_registries()
    (tmp_path / "ils_plugin_probe.py").write_text(
        "class Probe:\n    def __init__(self, name):\n        self.name = name\n"
        + "".join(f"{kind.upper()} = Probe('probe_{kind}')\n" for kind in regs))
    meta = tmp_path / "ils_plugin_probe-0.1.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: ils-plugin-probe\nVersion: 0.1\n")
    (meta / "entry_points.txt").write_text(
        "".join(f"[ils.{kind}s]\nprobe_{kind} = ils_plugin_probe:{kind.upper()}\n\n" for kind in regs))
    sys.path.insert(0, str(tmp_path))
    yield regs
    sys.path.remove(str(tmp_path))
    for kind, reg in regs.items():
        reg.remove(f"probe_{kind}")
    sys.modules.pop("ils_plugin_probe", None)


def test_each_registry_finds_a_plugin_from_a_temporary_folder(plugin_folder):
    for kind, reg in plugin_folder.items():
        reg.names()  # built-ins found first, as in any process
        found = reg.get(f"probe_{kind}")  # a miss looks for new plugins before it fails
        assert found.name == f"probe_{kind}" and type(found).__module__ == "ils_plugin_probe", kind


def test_a_name_is_written_once_and_an_unknown_name_lists_the_known_ones():
    reg: Registry = Registry("widget")

    @reg.register
    class Gear:
        name = "gear"

    assert reg.get("gear") is Gear and reg.names() == ["gear"]
    with pytest.raises(ConfigError, match="unknown widget 'cog'; known: gear"):
        reg.get("cog")
    with pytest.raises(ConfigError, match="registered twice"):
        reg.add(type("Other", (), {"name": "gear"}))
    reg.remove("gear")
    assert "gear" not in reg
