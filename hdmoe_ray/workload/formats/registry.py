"""The trace-format registry: one reader per format name, each with a path test for auto-detection.

A format module registers its reader with ``@register_format("name", detect=fn)``; ``detect(path)``
says from the path alone (suffix, folder content, magic bytes) whether the file or folder is in that
format. The built-in modules are imported on first lookup, so ``get_format("parquet")`` works without
importing ``parquet.py`` first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hdmoe_ray.errors import HdmoeError, TraceError, UnknownNameError
from hdmoe_ray.workload.trace import RoutingTrace

BUILTIN_MODULES = ("hdmoe_ray.workload.formats.parquet", "hdmoe_ray.workload.formats.hdmoe_json",
                   "hdmoe_ray.workload.formats.esft_tsv")


class TraceReader(Protocol):
    """Reads one trace. ``num_experts`` / ``top_k`` are the caller's hints: they fill what the format does
    not record (ESFT's top_k, the E of a JSON trace) and are ignored where the file records the value.
    ``name`` overrides the trace's label (default: from the path)."""

    def __call__(self, path: Path, *, num_experts: int | None = None, top_k: int | None = None,
                 name: str | None = None) -> RoutingTrace: ...


@dataclass(frozen=True)
class TraceFormat:
    """A registered format: its name, reader and path test."""

    name: str
    read: TraceReader
    detect: Callable[[Path], bool]


_REGISTRY: dict[str, TraceFormat] = {}


def register_format(name: str, *, detect: Callable[[Path], bool]) -> Callable[[TraceReader], TraceReader]:
    """Decorator registering a reader under ``name``; registering a name twice raises HdmoeError."""

    def wrap(read: TraceReader) -> TraceReader:
        if name in _REGISTRY:
            raise HdmoeError(f"trace format {name!r} is already registered "
                             f"(by {_REGISTRY[name].read.__module__})")
        _REGISTRY[name] = TraceFormat(name, read, detect)
        return read

    return wrap


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def format_names() -> tuple[str, ...]:
    """Sorted names of every registered format."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_format(name: str) -> TraceFormat:
    """The format registered as ``name``; UnknownNameError (kind ``trace format``) otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("trace format", name, list(_REGISTRY)) from None


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (file or folder), tested in registration order.

    Raises:
        TraceError: the path does not exist, or no registered format recognises it.
    """
    _load_builtins()
    path = Path(path)
    if not path.exists():
        raise TraceError("no such file or folder", path=str(path))
    for fmt in _REGISTRY.values():
        if fmt.detect(path):
            return fmt.name
    raise TraceError(f"cannot tell the trace format from the path; known formats: {', '.join(sorted(_REGISTRY))} "
                     "(.parquet, .json[.gz], or a folder of expert_weights_<layer>.txt[.gz])", path=str(path))


def read_trace(path: str | Path, *, format: str | None = None, num_experts: int | None = None,
               top_k: int | None = None, name: str | None = None) -> RoutingTrace:
    """Read a trace with the named (or detected) format's reader. No cache: see ``loader.load_trace``."""
    path = Path(path)
    fmt = get_format(format) if format is not None else get_format(detect_format(path))
    if not path.exists():
        raise TraceError("no such file or folder", path=str(path))
    return fmt.read(path, num_experts=num_experts, top_k=top_k, name=name)
