"""The trace-format registry: one reader per format name, each with a path test for auto-detection.

A format module registers its reader with ``@register_format("name", detect=fn)``; ``detect(path)``
says from the path alone (suffix, folder content, magic bytes) whether the file or folder is in that
format. The built-in modules are imported on first lookup, so ``get_format("parquet")`` works without
importing ``parquet.py`` first.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hdmoe_ray.core.errors import ConfigError, TraceError
from hdmoe_ray.core.registry import Registry
from hdmoe_ray.core.trace import RoutingTrace


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


FORMATS: Registry[TraceFormat] = Registry("trace format", builtin_modules=(
    "hdmoe_ray.workload.formats.parquet", "hdmoe_ray.workload.formats.hdmoe_json",
    "hdmoe_ray.workload.formats.esft_tsv"))


def register_format(name: str, *, detect: Callable[[Path], bool]) -> Callable[[TraceReader], TraceReader]:
    """Decorator registering a reader under ``name``; registering a name twice raises HdmoeError."""

    def wrap(read: TraceReader) -> TraceReader:
        FORMATS.add(name, TraceFormat(name, read, detect))
        return read

    return wrap


def format_names() -> tuple[str, ...]:
    """Sorted names of every registered format."""
    return FORMATS.names()


def get_format(name: str) -> TraceFormat:
    """The format registered as ``name``; UnknownNameError (kind ``trace format``) otherwise."""
    return FORMATS.get(name)


def _exists(path: Path) -> bool:
    """``path.exists()``, with an unusable path (too long, a loop, no permission) as a TraceError."""
    try:
        return path.exists()
    except OSError as exc:
        raise TraceError(f"cannot access: {exc.strerror or exc}", path=str(path)) from exc


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (file or folder), tested in registration order.

    Raises:
        TraceError: the path does not exist, or no registered format recognises it.
    """
    path = Path(path)
    if not _exists(path):
        raise TraceError("no such file or folder", path=str(path))
    for fmt in FORMATS.members():
        try:
            found = fmt.detect(path)
        except OSError as exc:
            raise TraceError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
        if found:
            return fmt.name
    raise TraceError(f"cannot tell the trace format from the path; known formats: {', '.join(FORMATS.names())} "
                     "(.parquet, .json[.gz], or a folder of expert_weights_<layer>.txt[.gz])", path=str(path))


def check_hint(field: str, value: object) -> None:
    """A reader hint (``num_experts``, ``top_k``) is None or a positive integer; ConfigError naming it otherwise."""
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0):
        raise ConfigError(field, f"must be a positive integer or None, got {value!r}")


def read_trace(path: str | Path, *, format: str | None = None, num_experts: int | None = None,
               top_k: int | None = None, name: str | None = None) -> RoutingTrace:
    """Read a trace with the named (or detected) format's reader. No cache: see ``loader.load_trace``.

    Raises:
        ConfigError: a hint that is not a positive integer; UnknownNameError: an unknown ``format``.
        TraceError: a missing path, or bad content (see each format).
    """
    check_hint("num_experts", num_experts)
    check_hint("top_k", top_k)
    path = Path(path)
    fmt = get_format(format) if format is not None else get_format(detect_format(path))
    if not _exists(path):
        raise TraceError("no such file or folder", path=str(path))
    return fmt.read(path, num_experts=num_experts, top_k=top_k, name=name)
