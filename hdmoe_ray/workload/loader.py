"""Getting a RoutingTrace: by bundled name or path (with the Parquet cache), or from a run's config.

``load_trace`` resolves a bundled name (``bundled.py``) or a path, detects its format, and returns the
cached copy when the source is unchanged (``cache.py``); otherwise it parses and caches. Canonical
``.parquet`` files are read directly. ``resolve_trace`` picks the trace a run asks for
(``workload.trace_path`` > ``workload.trace`` > ``model.default_trace``; ``synthetic`` generates one) and
checks it against the model.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from hdmoe_ray.core.errors import ConfigError, TraceError, UnknownNameError
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.workload import bundled
from hdmoe_ray.workload.cache import cache_path, load_cached, store_cached
from hdmoe_ray.workload.formats.registry import check_hint, detect_format, read_trace

if TYPE_CHECKING:
    from hdmoe_ray.config.schemas import ModelConfig, WorkloadConfig

SYNTHETIC = "synthetic"


def locate(name_or_path: str | os.PathLike) -> tuple[Path, str | None]:
    """(path, bundled name or None). A bundled name wins over a relative path of the same spelling.

    Raises:
        UnknownNameError: a bare name (no folder separator, no suffix) that is not bundled.
        TraceError: a path that does not exist.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and bundled.is_bundled_name(text):
        entry = bundled.bundled_trace(text)
        return entry.path, entry.name
    try:
        path = Path(text).expanduser()
    except RuntimeError as exc:  # "~user" of an unknown user
        raise TraceError(f"cannot expand the home folder: {exc}", path=text) from exc
    try:
        if path.exists():
            return path, None
    except OSError as exc:  # a name too long, a symlink loop
        raise TraceError(f"cannot access: {exc.strerror or exc}", path=str(path)) from exc
    if os.sep not in text and "/" not in text and "." not in text:
        raise UnknownNameError("trace", text, [*bundled.bundled_names(), *bundled.FAMILIES])
    raise TraceError("no such file or folder", path=str(path))


def load_trace(name_or_path: str | os.PathLike, *, num_experts: int | None = None, top_k: int | None = None,
               use_cache: bool = True) -> RoutingTrace:
    """The trace at a bundled name or path, from the Parquet cache when the source is unchanged.

    Args:
        name_or_path: a bundled name (``deepseek_v2_lite_esft_law``) or a file/folder in a known format.
        num_experts, top_k: hints for what a format does not record (see ``TraceReader``).
        use_cache: False parses the source and neither reads nor writes the cache.

    Raises:
        UnknownNameError, TraceError: unknown name, missing path, or bad content (see each format).
        ConfigError: a hint that is not a positive integer.
    """
    check_hint("num_experts", num_experts)
    check_hint("top_k", top_k)
    path, name = locate(name_or_path)
    fmt = detect_format(path)
    if fmt == "parquet" or not use_cache:
        return read_trace(path, format=fmt, num_experts=num_experts, top_k=top_k, name=name)
    target = cache_path(path, fmt, num_experts=num_experts, top_k=top_k, name=name)
    cached = load_cached(target)
    if cached is not None:
        return cached
    trace = read_trace(path, format=fmt, num_experts=num_experts, top_k=top_k, name=name)
    store_cached(trace, target)
    return trace


def trace_name(model: ModelConfig, workload: WorkloadConfig) -> str:
    """The bundled name (or ``synthetic``) a run without ``trace_path`` uses; category applied."""
    name = workload.trace or model.default_trace
    if workload.category is None:
        return name
    if name == SYNTHETIC:
        raise ConfigError("workload.category", f"{workload.category!r} given, but the trace is synthetic "
                          "(categories pick bundled traces)")
    return bundled.with_category(name, workload.category)


def check_against_model(trace: RoutingTrace, model: ModelConfig) -> RoutingTrace:
    """The trace if its E, top_k and layer count match the model's, else ConfigError naming the field.

    A trace whose E was only inferred as max id + 1 (``metadata["num_experts_from"] == "max_id"``) and is
    below the model's E takes the model's E (the highest experts were just never chosen).
    """
    if trace.metadata.get("num_experts_from") == "max_id" and trace.num_experts < model.num_experts:
        trace = dataclasses.replace(trace, num_experts=model.num_experts,
                                    metadata={**trace.metadata, "num_experts_from": "model"})
    checks = (("model.num_experts", trace.num_experts, model.num_experts, "experts"),
              ("model.top_k", trace.top_k, model.top_k, "experts per token (top_k)"),
              ("model.num_layers", trace.num_layers, model.num_moe_layers,
               "MoE layers (model: num_layers - num_dense_layers)"))
    for field, got, want, what in checks:
        if got != want:
            raise ConfigError(field, f"trace {trace.name!r} has {got} {what}, model {model.name!r} has {want}")
    return trace


def resolve_trace(model: ModelConfig, workload: WorkloadConfig, seed: int) -> RoutingTrace:
    """The trace a run uses, checked against the model.

    ``workload.trace_path`` wins (and takes no category), else ``workload.trace``, else
    ``model.default_trace``; ``workload.category`` swaps the category of a bundled name
    (``mixtral_mtbench`` + ``math`` -> ``mixtral_mtbench_math``). ``synthetic`` generates a trace with the
    model's E, top_k and MoE layers (ids ``num_dense_layers..num_layers-1``) from ``workload.synthetic``,
    seeded by ``seed``.

    Raises:
        ConfigError: a category with trace_path or synthetic; E, top_k or layers differ from the model.
        UnknownNameError, TraceError: as ``load_trace``.
    """
    if workload.trace_path:
        if workload.category is not None:
            raise ConfigError("workload.category", "cannot be combined with workload.trace_path")
        trace = load_trace(workload.trace_path, top_k=model.top_k)
    else:
        name = trace_name(model, workload)
        if name == SYNTHETIC:
            from hdmoe_ray.workload.synthetic import generate_synthetic_trace

            trace = generate_synthetic_trace(model.num_experts, model.top_k, model.num_moe_layers,
                                             workload.synthetic, seed,
                                             layer_ids=range(model.num_dense_layers, model.num_layers),
                                             name=f"synthetic_{model.name}")
        else:
            trace = load_trace(name)
    return check_against_model(trace, model)
