"""Test helpers: write tiny traces in the published text formats (for tests and examples).

The writers format text directly (no code shared with the importers), so a test that writes with these
and reads with an importer checks the importer against an independent rendering of the format.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np

from hdmoe_ray.core.trace import RoutingTrace


def write_hdmoe_json(path: Path, layers: Mapping[int, Sequence[Sequence[int]]]) -> Path:
    """Write ``{"<layer>": [[e, e], ...]}``; gzip when ``path`` ends in ``.gz``."""
    text = json.dumps({str(layer): np.asarray(ids).tolist() for layer, ids in layers.items()})
    path.write_bytes(gzip.compress(text.encode()) if path.name.endswith(".gz") else text.encode())
    return path


def esft_line(ids: np.ndarray, weights: np.ndarray) -> str:
    """One ESFT log line: ids tab-separated, a double tab, weights tab-separated (4 decimals)."""
    id_text = "\t".join(str(int(i)) for i in np.ravel(ids))
    weight_text = "\t".join(f"{float(w):.4f}" for w in np.ravel(weights))
    return f"{id_text}\t\t{weight_text}"


def write_esft_folder(folder: Path, expert_ids: np.ndarray, *, line_tokens: Sequence[int] | None = None,
                      layer_ids: Sequence[int] | None = None, weights: np.ndarray | None = None,
                      gz: bool = True, summary_experts: int | None = None) -> Path:
    """Write ``expert_weights_<layer>.txt[.gz]`` files for ids [L, T, k] split into lines of ``line_tokens``.

    ``summary_experts`` also writes a ``summary.json.gz`` whose ``gate_scores`` list that many experts.
    Weights default to 0.1 * (position in the top-k + 1).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.asarray(expert_ids)
    num_layers, num_tokens, top_k = ids.shape
    if weights is None:
        weights = np.broadcast_to(0.1 * np.arange(1, top_k + 1), ids.shape)
    bounds = np.cumsum([0, *(line_tokens or [num_tokens])])
    for position, layer in enumerate(layer_ids if layer_ids is not None else range(1, num_layers + 1)):
        lines = [esft_line(ids[position, a:b], weights[position, a:b]) for a, b in pairwise(bounds)]
        text = "\n".join(lines) + "\n"
        name = f"expert_weights_{layer}.txt" + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    if summary_experts is not None:
        scores = {str(layer): {str(e): 0.01 for e in range(summary_experts)} for layer in range(1, num_layers + 1)}
        (folder / "summary.json.gz").write_bytes(gzip.compress(json.dumps({"gate_scores": scores}).encode()))
    return folder


def tiny_trace(expert_ids: Sequence, num_experts: int, **kwargs) -> RoutingTrace:
    """A RoutingTrace from nested lists [L][T][k] (int16), for hand-computed statistics."""
    return RoutingTrace(name=kwargs.pop("name", "tiny"), num_experts=num_experts,
                        expert_ids=np.asarray(expert_ids, dtype=np.int16), **kwargs)
