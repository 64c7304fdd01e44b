"""The ESFT expert-log format: a folder of ``expert_weights_<layer>.txt[.gz]``, one file per MoE layer.

Each line of a layer file is one logged batch: the expert ids of its tokens (top_k per token,
tab-separated), a double tab, then the matching gate weights (tab-separated). Token order is the same
in every layer file. Line lengths become ``batch_offsets`` (token offset where each line starts) and must
agree across layers. The files do not record top_k: the caller's value, else 6 (DeepSeek-V2-Lite, the
model ESFT logged). E comes from ``summary.json[.gz]`` (experts per layer in its ``gate_scores``), else
from the caller, else max id + 1; ``metadata`` records where each came from. A single layer file may
also be read on its own (a one-layer trace).

Parsing is whole-file: lines are only split and counted in Python; the numbers of a file are parsed in
one call for the ids (numpy) and one for the weights (Arrow's CSV parser, ~3x faster on floats).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from hdmoe_ray.core.errors import TraceError
from hdmoe_ray.core.trace import MAX_EXPERTS, RoutingTrace
from hdmoe_ray.workload.formats.registry import register_format
from hdmoe_ray.workload.formats.textio import check_distinct_experts, parse_json, read_bytes, read_text, short

FORMAT = "esft_tsv"
DEFAULT_TOP_K = 6  # DeepSeek-V2-Lite routes each token to 6 of 64 experts
LAYER_FILE = re.compile(r"^expert_weights_([0-9]+)\.txt(\.gz)?$")  # ASCII digits (\d takes any script's)
INT_FIELDS = re.compile(r"[^0-9\t+-]")  # a character no tab-separated integer field holds
SUMMARY_FILES = ("summary.json.gz", "summary.json")


def detect(path: Path) -> bool:
    if path.is_file():
        return LAYER_FILE.match(path.name) is not None
    return path.is_dir() and any(LAYER_FILE.match(p.name) for p in path.iterdir())


def layer_files(path: Path) -> list[tuple[int, Path]]:
    """(layer id, file) pairs sorted by layer id; a folder holding no layer file is an empty trace."""
    candidates = [path] if path.is_file() else sorted(path.iterdir())
    found: dict[int, Path] = {}
    for file in candidates:
        match = LAYER_FILE.match(file.name)
        if match is None:
            continue
        layer = int(match.group(1))
        if layer in found:
            raise TraceError(f"two files for one layer: {found[layer].name} and {file.name}", path=str(path),
                             layer=layer)
        found[layer] = file
    if not found:
        raise TraceError("empty trace: no expert_weights_<layer>.txt[.gz] file", path=str(path))
    return sorted(found.items())


def _parse_all(fields: list[str], dtype: type) -> np.ndarray:
    """Every number of ``fields`` in one call (an empty array when some field is malformed)."""
    if np.dtype(dtype).kind == "f":  # Arrow's single-threaded CSV float parser is ~3x numpy's
        data = "\n".join(fields).replace("\t", "\n").encode()
        read = pacsv.ReadOptions(column_names=["v"], use_threads=False)
        convert = pacsv.ConvertOptions(column_types={"v": pa.float64()}, null_values=[],
                                       quoted_strings_can_be_null=False)
        try:
            table = pacsv.read_csv(io.BytesIO(data), read_options=read, convert_options=convert)
        except pa.ArrowException:
            return np.empty(0, dtype=dtype)
        return table.column("v").to_numpy().astype(dtype, copy=False)
    joined = "\t".join(fields)
    # numpy skips spaces and other whitespace between numbers ("1 2" reads as two ids): only digits,
    # signs and single tabs may reach it, else the per-line check below names the bad line
    if INT_FIELDS.search(joined) or "\t\t" in joined or joined.startswith("\t") or joined.endswith("\t"):
        return np.empty(0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(joined, dtype=dtype, sep="\t")
        except (ValueError, DeprecationWarning):
            return np.empty(0, dtype=dtype)


def _field_ok(field: str, dtype: type) -> bool:
    """One line's tab-separated numbers parse, each field non-empty and without surrounding whitespace."""
    tokens = field.split("\t")
    if any(not token or token != token.strip() for token in tokens):
        return False
    if np.dtype(dtype).kind != "f" and INT_FIELDS.search(field):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(field, dtype=dtype, sep="\t").size == len(tokens)
        except (ValueError, DeprecationWarning):
            return False


def _parse_numbers(fields: list[str], dtype: type, what: str, file: Path, layer: int) -> np.ndarray:
    """All tab-separated numbers of ``fields`` (one string per line), parsed in one call."""
    counts = np.array([f.count("\t") + 1 for f in fields])
    values = _parse_all(fields, dtype)
    if values.size == counts.sum():
        return values
    for line, field in enumerate(fields, start=1):  # error path only: find the offending line
        if not _field_ok(field, dtype):
            raise TraceError(f"line {line}: empty or non-numeric {what} field", path=str(file), layer=layer)
    raise TraceError(f"malformed {what} fields", path=str(file), layer=layer)


def parse_layer(text: str, top_k: int, file: Path, layer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One layer file's text -> (ids int64 [T, k], gate weights float32 [T, k], tokens per line)."""
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    if not lines[0].strip():
        raise TraceError("empty layer file (no logged batch)", path=str(file), layer=layer)
    parts = [line.split("\t\t") for line in lines]
    for number, part in enumerate(parts, start=1):
        if len(part) != 2:
            raise TraceError(f"line {number}: expected expert ids, a double tab, then gate weights "
                             f"(found {len(part) - 1} double tabs)", path=str(file), layer=layer)
    id_fields = [p[0] for p in parts]
    weight_fields = [p[1] for p in parts]
    n_ids = np.array([f.count("\t") + 1 for f in id_fields])
    n_weights = np.array([f.count("\t") + 1 for f in weight_fields])
    bad = np.flatnonzero((n_ids != n_weights) | (n_ids % top_k != 0))
    if bad.size:
        i = int(bad[0])
        raise TraceError(f"line {i + 1}: {n_ids[i]} expert ids and {n_weights[i]} gate weights "
                         f"(need equal counts, a multiple of top_k={top_k})", path=str(file), layer=layer)
    ids = _parse_numbers(id_fields, np.int64, "expert id", file, layer)
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused below
        weights = _parse_numbers(weight_fields, np.float64, "gate weight", file, layer).astype(np.float32)
    not_finite = np.flatnonzero(~np.isfinite(weights))
    if not_finite.size:
        line = int(np.searchsorted(np.cumsum(n_weights), not_finite[0], side="right")) + 1
        raise TraceError(f"line {line}: gate weight {weights[not_finite[0]]} is not a finite number",
                         path=str(file), layer=layer)
    return ids.reshape(-1, top_k), weights.reshape(-1, top_k), n_ids // top_k


def _summary_experts(folder: Path) -> tuple[int | None, str | None]:
    """E from the folder's summary.json[.gz] (experts listed per layer in ``gate_scores``), if present."""
    for name in SUMMARY_FILES:
        file = folder / name
        if file.is_file():
            data = parse_json(read_bytes(file), file, "corrupt summary (gate_scores per layer expected)")
            scores = data.get("gate_scores") if isinstance(data, dict) else None
            if not isinstance(scores, dict) or not scores:
                raise TraceError("corrupt summary (gate_scores per layer expected): no gate_scores object "
                                 "with a layer", path=str(file))
            layer, first = next(iter(scores.items()))
            if not isinstance(first, (dict, list)) or not first:
                raise TraceError(f"corrupt summary (gate_scores per layer expected): layer {short(layer)} "
                                 f"holds {short(first)}, not a score per expert", path=str(file))
            return len(first), name
    return None, None


@register_format(FORMAT, detect=detect)
def read_esft_tsv(path: Path, *, num_experts: int | None = None, top_k: int | None = None,
                  name: str | None = None) -> RoutingTrace:
    """Read an ESFT expert-log folder (or one layer file).

    Raises:
        TraceError: no layer file, truncated/corrupt .gz, a line without the double tab, unequal
            id/weight counts, non-numeric fields, layers with different token counts or batch lines,
            ids out of [0, E), a token listing an expert twice.
    """
    k = top_k or DEFAULT_TOP_K
    files = layer_files(path)
    parsed = [parse_layer(read_text(file, layer=lid), k, file, lid) for lid, file in files]
    first_id, (first_ids, _, first_lines) = files[0][0], parsed[0]
    for (lid, file), (ids, _, lines) in zip(files, parsed):
        if ids.shape[0] != first_ids.shape[0]:
            raise TraceError(f"{ids.shape[0]} tokens, but layer {first_id} has {first_ids.shape[0]} "
                             "(token order must be aligned across layers)", path=str(file), layer=lid)
        if not np.array_equal(lines, first_lines):
            raise TraceError(f"batch lines hold different token counts than layer {first_id}'s",
                             path=str(file), layer=lid)
    stacked = np.stack([p[0] for p in parsed])
    folder = path if path.is_dir() else path.parent
    summary_experts, summary_name = _summary_experts(folder)
    if summary_experts is not None:
        experts, source = summary_experts, "file"
    elif num_experts is not None:
        experts, source = num_experts, "caller"
    else:
        experts, source = int(stacked.max()) + 1, "max_id"
    if experts > MAX_EXPERTS:
        raise TraceError(f"num_experts={experts} (E from {source}) does not fit the int16 expert ids",
                         path=str(path))
    layer_ids = tuple(lid for lid, _ in files)
    out_of_range = ((stacked < 0) | (stacked >= experts)).any(axis=(1, 2))
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        raise TraceError(f"expert id out of range [0, {experts}) (E from {source}): min {int(stacked[i].min())}, "
                         f"max {int(stacked[i].max())}", path=str(files[i][1]), layer=layer_ids[i])
    expert_ids = stacked.astype(np.int16)
    check_distinct_experts(expert_ids, layer_ids, path)
    offsets = np.concatenate([[0], np.cumsum(first_lines)[:-1]]).astype(np.int64)
    metadata = {"num_experts_from": source, "top_k_from": "caller" if top_k else "default",
                "esft_summary": summary_name}
    return RoutingTrace(name=name or (path.name if path.is_dir() else path.parent.name), num_experts=experts,
                        expert_ids=expert_ids, gate_weights=np.stack([p[1] for p in parsed]),
                        layer_ids=layer_ids, batch_offsets=offsets, source_format=FORMAT,
                        source_path=str(path), metadata=metadata)
