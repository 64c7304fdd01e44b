"""Typed errors of hdmoe_ray.

Every error raised on bad input derives from :class:`HdmoeError`, names what was wrong and where
(file, layer, field), and makes the CLIs exit with a non-zero status without writing partial output.
"""

from __future__ import annotations


class HdmoeError(Exception):
    """Base class of every error hdmoe_ray raises on purpose on bad input (the jobs exit with status 2)."""


class RunFailure(Exception):
    """A run failed for a reason outside its inputs: a Ray actor or cluster node was lost, a wait timed
    out. The message says what and where; the jobs print it on one line and exit with status 1."""


class ConfigError(HdmoeError, ValueError):
    """A configuration value is invalid. The message names the field (``hardware.link_gbps``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class UnknownNameError(ConfigError, KeyError):
    """A name (model, hardware preset, trace, strategy, format) is not registered."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]):
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(kind, f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would otherwise print the repr
        return self.args[0]


class TraceError(HdmoeError, ValueError):
    """A routing trace is missing, corrupt or inconsistent. ``path`` and ``layer`` say where."""

    def __init__(self, message: str, *, path: str | None = None, layer: int | None = None):
        self.path = path
        self.layer = layer
        where = []
        if path is not None:
            where.append(str(path))
        if layer is not None:
            where.append(f"layer {layer}")
        prefix = f"{': '.join(where)}: " if where else ""
        super().__init__(prefix + message)


class MappingError(HdmoeError, ValueError):
    """A mapping violates its invariants (shares, permutation, capacity). Names layer and field."""

    def __init__(self, message: str, *, layer: int | None = None):
        self.layer = layer
        prefix = f"layer {layer}: " if layer is not None else ""
        super().__init__(prefix + message)


class InfeasibleError(HdmoeError, ValueError):
    """An optimisation problem has no feasible solution; names the layer and the constraint."""

    def __init__(self, message: str, *, layer: int | None = None, constraint: str | None = None):
        self.layer = layer
        self.constraint = constraint
        parts = []
        if layer is not None:
            parts.append(f"layer {layer}")
        if constraint is not None:
            parts.append(f"constraint {constraint}")
        prefix = f"{', '.join(parts)}: " if parts else ""
        super().__init__(prefix + message)
