"""The comparison table of ``hdmoe-report``: one row per trial, speedups against a baseline.

Rows come from MLflow trial runs (:class:`hdmoe_ray.tracking.mlflow_query.RunRow`). A trial's label
(its grid values or search point, tag ``hdmoe.label``) gives its configuration columns. Rows of one
sweep that agree on every label except ``compare_key`` (default ``strategy``) form a configuration
group; within a group, ``speedup = TBT(baseline) / TBT(row)`` (> 1: faster than the baseline, as the
paper's figure 8 normalises to TP). A group without a finished baseline row gets no speedups.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hdmoe_ray.tuning.grid import label_text

STATUS_OK = "FINISHED"
TIME_COLUMNS = ("tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us")


@dataclass(frozen=True)
class ComparisonTable:
    """Rows as dicts (keys: ``columns``), the label columns, and the grouping used for speedups."""

    rows: list[dict[str, Any]]
    label_columns: list[str]
    compare_key: str
    baseline: str
    metric: str

    @property
    def speedup_column(self) -> str:
        return f"speedup_vs_{self.baseline}"

    @property
    def columns(self) -> list[str]:
        return ["sweep_id", "trial", *self.label_columns, "status", *TIME_COLUMNS, self.speedup_column, "error"]

    def groups(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """(group name, rows) in table order; the name lists the labels other than ``compare_key``."""
        out: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            out.setdefault(row["_group"], []).append(row)
        return list(out.items())

    def group_labels(self) -> list[str]:
        """Short multi-line axis labels of the groups: model / hardware names, then ``field=value``."""
        out = []
        for _, members in self.groups():
            label = members[0]["_label"]
            lines = [label_text(v) if k in ("model", "hardware") else f"{k.rsplit('.', 1)[-1]}={label_text(v)}"
                     for k, v in label.items() if k != self.compare_key]
            out.append("\n".join(lines) or members[0]["sweep_id"])
        return out

    def compared_values(self) -> list[str]:
        """Values of ``compare_key``: the baseline first, then in order of appearance."""
        seen = [str(r[self.compare_key]) for r in self.rows if r.get(self.compare_key) is not None]
        ordered = sorted(set(seen), key=seen.index)
        return sorted(ordered, key=lambda v: v != self.baseline)

    def geomean_speedups(self) -> dict[str, float]:
        """compare value -> geometric mean speedup over the groups where it has one."""
        values: dict[str, list[float]] = {}
        for row in self.rows:
            s = row.get(self.speedup_column)
            if s is not None and math.isfinite(s) and s > 0:
                values.setdefault(str(row.get(self.compare_key)), []).append(s)
        return {k: float(np.exp(np.mean(np.log(v)))) for k, v in values.items()}


def _label(run) -> dict[str, Any]:
    try:
        return dict(json.loads(run.tags.get("hdmoe.label", "{}")))
    except json.JSONDecodeError:
        return {}


def build_table(runs: list, *, baseline: str = "tp", compare_key: str = "strategy",
                metric: str = "tbt_us") -> ComparisonTable:
    """Rows sorted by sweep, then trial index; speedups of ``metric`` within configuration groups."""
    ordered = sorted(runs, key=lambda r: (r.tags.get("hdmoe.sweep_id", ""), int(r.tags.get("hdmoe.trial_index", 0))))
    labels = [_label(r) for r in ordered]
    label_columns: list[str] = []
    for lab in labels:
        label_columns += [k for k in lab if k not in label_columns]
    rows = []
    for run, lab in zip(ordered, labels):
        row = {"sweep_id": run.tags.get("hdmoe.sweep_id", ""), "trial": run.tags.get("hdmoe.trial_key", run.run_id),
               "run_id": run.run_id, "index": int(run.tags.get("hdmoe.trial_index", 0)),
               "status": run.tags.get("hdmoe.status", run.status), "error": run.tags.get("hdmoe.error", "")}
        row.update({k: _scalar(lab.get(k)) for k in label_columns})
        row.update({k: run.metrics.get(k) for k in TIME_COLUMNS})
        row[metric] = run.metrics.get(metric)
        row["_metric_names"] = sorted(run.metrics)
        row["_label"] = lab
        others = [f"{k.rsplit('.', 1)[-1]}={label_text(lab[k])}" for k in label_columns
                  if k != compare_key and k in lab]
        row["_group"] = " ".join([row["sweep_id"], *others]) if others else row["sweep_id"]
        rows.append(row)
    table = ComparisonTable(rows, label_columns, compare_key, baseline, metric)
    for _, members in table.groups():
        base = [r for r in members if str(r.get(compare_key)) == baseline and r["status"] == STATUS_OK
                and _finite(r.get(metric))]
        for r in members:
            ok = base and r["status"] == STATUS_OK and _finite(r.get(metric)) and r[metric] > 0
            r[table.speedup_column] = base[0][metric] / r[metric] if ok else None
    return table


def _scalar(value: Any) -> Any:
    """Numbers and strings stay as they are (CSV keeps numbers); dicts and lists become short labels."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else label_text(value)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _cell(value: Any, column: str = "") -> str:
    """One markdown cell; every number of a column in one format: times (``*_us``) with 2 decimals,
    speedups with 3, other floats as short as exact (``2.5``, ``75``), never in exponent notation."""
    if value is None:
        return ""
    if isinstance(value, float):
        if column.endswith("_us"):
            return f"{value:.2f}"
        if column.startswith("speedup"):
            return f"{value:.3f}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.6f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_csv(table: ComparisonTable, path: Path) -> Path:
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        for row in table.rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in table.columns])
    return path


def markdown_table(table: ComparisonTable) -> str:
    cols = [c for c in table.columns if c != "error"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(row.get(c), c) for c in cols) + " |" for row in table.rows]
    return "\n".join(lines)


SEED_KEY = "seed"


def seed_spread(table: ComparisonTable) -> list[dict[str, Any]]:
    """Finished rows that differ only in ``seed`` (same sweep, same other labels), folded into one row each:
    ``n`` seeds and the mean, min and max of the metric and of the speedup. Empty when no label is a seed."""
    if SEED_KEY not in table.label_columns:
        return []
    folded: dict[tuple, list[dict[str, Any]]] = {}
    for row in table.rows:
        if row["status"] != STATUS_OK or not _finite(row.get(table.metric)):
            continue
        key = (row["sweep_id"], *(json.dumps(row["_label"].get(k), sort_keys=True, default=str)
                                  for k in table.label_columns if k != SEED_KEY))
        folded.setdefault(key, []).append(row)
    out = []
    for members in folded.values():
        first = members[0]
        entry = {"sweep_id": first["sweep_id"], "n": len(members),
                 "seeds": sorted(r.get(SEED_KEY) for r in members if r.get(SEED_KEY) is not None)}
        entry.update({k: first.get(k) for k in table.label_columns if k != SEED_KEY})
        for column in (table.metric, table.speedup_column):
            values = [r[column] for r in members if _finite(r.get(column))]
            if values:
                entry[column] = {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))}
        out.append(entry)
    return out


def markdown_seed_spread(table: ComparisonTable, spread: list[dict[str, Any]]) -> str:
    """The folded rows as markdown: ``mean [min-max]`` of the metric and of the speedup per configuration."""
    labels = [k for k in table.label_columns if k != SEED_KEY]
    cols = ["sweep_id", *labels, "seeds", f"{table.metric} mean [min-max]", f"{table.speedup_column} mean [min-max]"]

    def stats(value: dict | None, column: str) -> str:
        if not value:
            return ""
        return f"{_cell(value['mean'], column)} [{_cell(value['min'], column)}-{_cell(value['max'], column)}]"

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for e in spread:
        cells = [e["sweep_id"], *(_cell(e.get(k), k) for k in labels), ",".join(str(s) for s in e["seeds"]),
                 stats(e.get(table.metric), table.metric), stats(e.get(table.speedup_column), "speedup")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
