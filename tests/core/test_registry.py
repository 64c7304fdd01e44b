"""The one Registry class: registration, duplicates, unknown names, lazy built-in modules, order."""

from __future__ import annotations

import sys
import uuid

import pytest

from hdmoe_ray.core.errors import ConfigError, HdmoeError, UnknownNameError
from hdmoe_ray.core.registry import Registry


def test_register_returns_the_member_and_get_finds_it():
    reg: Registry = Registry("widget")

    @reg.register("spin")
    def spin():
        return "spun"

    assert spin() == "spun"  # the decorator hands the function back unchanged
    assert reg.get("spin") is spin
    reg.add("flat", 3)
    assert reg.get("flat") == 3 and "flat" in reg and "round" not in reg
    assert reg.names() == ("flat", "spin") and len(reg) == 2 and list(reg) == ["flat", "spin"]


def test_a_name_registered_twice_raises_and_keeps_the_first():
    reg: Registry = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(HdmoeError, match="widget 'a' is already registered"):
        reg.add("a", 2)
    with pytest.raises(HdmoeError, match="already registered"):
        reg.register("a")(lambda: None)
    assert reg.get("a") == 1 and len(reg) == 1


def test_an_unknown_name_lists_the_known_names():
    reg: Registry = Registry("gadget")
    for name in ("zeta", "alpha", "mid"):
        reg.add(name, name.upper())
    with pytest.raises(UnknownNameError) as info:
        reg.get("beta")
    err = info.value
    assert err.kind == "gadget" and err.name == "beta" and err.known == ["alpha", "mid", "zeta"]
    assert str(err) == "gadget: unknown gadget 'beta'; known: alpha, mid, zeta"
    assert isinstance(err, ConfigError) and isinstance(err, KeyError)  # a bad config value, and a lookup miss
    with pytest.raises(UnknownNameError, match=r"known: \(none\)"):
        Registry("empty").get("x")


def test_members_in_registration_order_names_sorted():
    reg: Registry = Registry("thing")
    for name, value in (("b", 2), ("a", 1), ("c", 3)):
        reg.add(name, value)
    assert reg.members() == [2, 1, 3]
    assert reg.names() == ("a", "b", "c")


@pytest.fixture
def module_pair(tmp_path, monkeypatch):
    """A host module owning a registry whose built-in module (a second file) registers into it."""
    tag = uuid.uuid4().hex[:8]
    host, member = f"hdmoe_test_host_{tag}", f"hdmoe_test_member_{tag}"
    (tmp_path / f"{host}.py").write_text(
        "from hdmoe_ray.core.registry import Registry\n"
        f"REG = Registry('plugin', builtin_modules=({member!r},))\n")
    (tmp_path / f"{member}.py").write_text(
        f"from {host} import REG\n"
        "REG.add('first', 1)\n"
        "@REG.register('second')\n"
        "def second():\n"
        "    return 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield host, member
    for name in (host, member):
        sys.modules.pop(name, None)


def test_builtin_modules_are_imported_on_the_first_lookup(module_pair):
    import importlib

    host, member = module_pair
    reg = importlib.import_module(host).REG
    assert member not in sys.modules  # creating the registry imports nothing
    assert reg.get("first") == 1  # the first lookup imports the member module
    assert member in sys.modules
    assert reg.names() == ("first", "second") and [m if m == 1 else m() for m in reg.members()] == [1, 2]


@pytest.mark.parametrize("lookup", [lambda r: r.names(), lambda r: r.members(), lambda r: "first" in r,
                                    lambda r: len(r)])
def test_every_kind_of_lookup_loads_the_builtins(module_pair, lookup):
    import importlib

    host, member = module_pair
    reg = importlib.import_module(host).REG
    lookup(reg)
    assert member in sys.modules and "second" in reg


def test_an_unknown_name_after_loading_lists_the_builtin_members(module_pair):
    import importlib

    reg = importlib.import_module(module_pair[0]).REG
    with pytest.raises(UnknownNameError, match="unknown plugin 'third'; known: first, second"):
        reg.get("third")
