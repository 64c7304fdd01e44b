"""Bundled routing traces: names -> files under ``hdmoe_ray/data/routing_traces`` (README there).

Names are ``<family>_<category>``:
- ``mixtral_mtbench_<category>`` (coding, extraction, math, reasoning, roleplay, writing): the HD-MoE
  authors' Mixtral-8x7B MT-Bench traces (8 experts, top-2, 32 layers);
- ``deepseek_v2_lite_esft_<task>`` (law, summary, translation): ESFT's DeepSeek-V2-Lite logs
  (64 experts, top-6, MoE layers 1..26).
A family name alone means its default category (``reasoning``, the paper's offline-optimisation
category, for Mixtral; ``law`` for DeepSeek). The env var ``HDMOE_TRACE_ROOT`` moves the root folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hdmoe_ray.core.errors import UnknownNameError

ROOT_ENV = "HDMOE_TRACE_ROOT"
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "data" / "routing_traces"


@dataclass(frozen=True)
class TraceFamily:
    """A set of bundled traces of one model, one per category."""

    name: str
    model: str
    num_experts: int
    top_k: int
    categories: tuple[str, ...]
    default_category: str
    path_template: str  # relative to the root; ``{category}`` is substituted


FAMILIES = {
    f.name: f
    for f in (
        TraceFamily("mixtral_mtbench", "mixtral_8x7b", 8, 2,
                    ("coding", "extraction", "math", "reasoning", "roleplay", "writing"), "reasoning",
                    "hdmoe_mixtral8x7b_mtbench/experts_{category}_mixtral.json.gz"),
        TraceFamily("deepseek_v2_lite_esft", "deepseek_v2_lite", 64, 6, ("law", "summary", "translation"), "law",
                    "esft_deepseek_v2_lite/{category}"),
    )
}


@dataclass(frozen=True)
class BundledTrace:
    """One bundled trace: its name, family, category and where its file or folder is."""

    name: str
    family: TraceFamily
    category: str

    @property
    def path(self) -> Path:
        return trace_root() / self.family.path_template.format(category=self.category)


def trace_root() -> Path:
    """The folder holding the bundled traces (``HDMOE_TRACE_ROOT`` when set)."""
    override = os.environ.get(ROOT_ENV)
    return Path(override) if override else DEFAULT_ROOT


def bundled_names() -> tuple[str, ...]:
    """Every bundled trace name, sorted."""
    return tuple(sorted(f"{f.name}_{c}" for f in FAMILIES.values() for c in f.categories))


def is_bundled_name(name: str) -> bool:
    return name in FAMILIES or name in bundled_names()


def bundled_trace(name: str) -> BundledTrace:
    """The bundled trace called ``name`` (a family alone means its default category).

    Raises:
        UnknownNameError: kind ``trace``, listing the known names.
    """
    if name in FAMILIES:
        family = FAMILIES[name]
        return BundledTrace(f"{family.name}_{family.default_category}", family, family.default_category)
    for family in FAMILIES.values():
        prefix = family.name + "_"
        if name.startswith(prefix) and name[len(prefix):] in family.categories:
            return BundledTrace(name, family, name[len(prefix):])
    raise UnknownNameError("trace", name, list(bundled_names()) + list(FAMILIES))


def with_category(name: str, category: str) -> str:
    """The bundled name of ``category`` in the family of ``name`` (a family or a full bundled name).

    ``with_category("mixtral_mtbench", "math") == with_category("mixtral_mtbench_reasoning", "math")
    == "mixtral_mtbench_math"``. Raises UnknownNameError for an unknown name or a category the family
    does not have (kind ``trace category``, listing the family's categories).
    """
    family = bundled_trace(name).family
    if category not in family.categories:
        raise UnknownNameError(f"trace category of {family.name}", category, list(family.categories))
    return f"{family.name}_{category}"
