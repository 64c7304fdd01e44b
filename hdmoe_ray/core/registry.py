"""One registry class for every family of named members: strategies, strategy configs, trace formats,
engines, network models, workflows, searchers, link-balance methods.

    STRATEGIES = Registry("strategy", builtin_modules=("hdmoe_ray.strategies.tp", ...))

    @STRATEGIES.register("tp")
    def tp_mapping(ctx): ...

    STRATEGIES.get("tp")           # UnknownNameError (kind "strategy") listing the known names otherwise
    STRATEGIES.names()             # sorted names, built-in modules imported first

A member is added by one file and one line (the decorator); registering a name twice raises.
``builtin_modules`` are imported on the first lookup, so a member is found without importing its module
by hand (and a lower layer can own the registry while a higher one fills it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from hdmoe_ray.core.errors import HdmoeError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> member, for one ``kind`` of member (the word error messages use)."""

    def __init__(self, kind: str, *, builtin_modules: tuple[str, ...] = ()):
        self.kind = kind
        self._builtin_modules = builtin_modules
        self._loaded = not builtin_modules
        self._members: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding ``member`` under ``name``; a second registration of a name raises."""

        def wrap(member: T) -> T:
            self.add(name, member)
            return member

        return wrap

    def add(self, name: str, member: T) -> None:
        if name in self._members:
            raise HdmoeError(f"{self.kind} {name!r} is already registered "
                             f"(by {getattr(self._members[name], '__module__', '?')})")
        self._members[name] = member

    def _load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True  # before importing: the modules register into this registry
            for module in self._builtin_modules:
                importlib.import_module(module)

    def get(self, name: str) -> T:
        self._load_builtins()
        try:
            return self._members[name]
        except (KeyError, TypeError):  # TypeError: an unhashable "name" (a list from a config file)
            raise UnknownNameError(self.kind, repr(name) if not isinstance(name, str) else name,
                                   tuple(self._members)) from None

    def names(self) -> tuple[str, ...]:
        self._load_builtins()
        return tuple(sorted(self._members))

    def members(self) -> list[T]:
        """Every member, in registration order (built-in modules first)."""
        self._load_builtins()
        return list(self._members.values())

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())
