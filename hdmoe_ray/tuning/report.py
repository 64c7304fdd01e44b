"""``run_report`` (hdmoe-report): read sweep runs back from MLflow and compare them.

    hdmoe-report sweep_id=<id>                      # or sweep_id=[<id>,<id>], or filter="..."
    hdmoe-report sweep_id=<id> baseline=ep compare_key=strategy breakdown_group=2

Writes into its Hydra output folder: ``report.csv`` and ``report.md`` (one row per trial: configuration,
status, TBT and its parts, speedup over ``baseline`` within each configuration), ``speedup.png``
(grouped bars like the paper's figure 8), ``layer_breakdown.png`` (per-layer compute/communication of
one configuration), ``convergence.png`` (searches only: best TBT so far per trial) and ``summary.json``;
then logs them back to MLflow under ``report/`` in each sweep's parent run. Exit status 2 on bad input
(unknown experiment or sweep, nothing matching the filter).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from hdmoe_ray.workflows.job import progress_printer


def _breakdown_series(uri: str, rows: list[dict[str, Any]], compare_key: str) -> dict[str, tuple]:
    """compare value -> (layer ids, compute_us, comm_us) from the trials' per-layer metric series."""
    from hdmoe_ray.tracking.mlflow_query import metric_history

    out = {}
    for row in rows:
        if row["status"] != "FINISHED":
            continue
        name = str(row.get(compare_key) or row["trial"])
        keys = [k for k in row["_metric_names"] if k.startswith("layer.") and k.endswith(".compute_us")]
        if not keys:
            continue
        prefix = keys[0][: -len(".compute_us")]
        compute = metric_history(uri, row["run_id"], f"{prefix}.compute_us")
        comm = dict(metric_history(uri, row["run_id"], f"{prefix}.comm_us"))
        out[name] = ([s for s, _ in compute], [v for _, v in compute], [comm.get(s, 0.0) for s, _ in compute])
    return out


def _convergence_curves(table, parents: dict) -> tuple[dict[str, list[float]], dict[str, str]]:
    curves: dict[str, list[float]] = {}
    algorithm: dict[str, str] = {}
    for sweep_id, parent in parents.items():
        if parent.tags.get("hdmoe.sweep_kind") != "search":
            continue
        rows = sorted((r for r in table.rows if r["sweep_id"] == sweep_id), key=lambda r: r["index"])
        values = [r[table.metric] if r["status"] == "FINISHED" and r[table.metric] is not None else math.nan
                  for r in rows]
        name = f"{sweep_id} ({parent.tags.get('hdmoe.search_algorithm', '?')})"
        curves[name] = values
        algorithm[name] = parent.tags.get("hdmoe.search_algorithm", "search")
    return curves, algorithm


def _context(parents: dict) -> str:
    """``; <the sweep's shared overrides>`` for a plot title (one sweep only)."""
    if len(parents) != 1:
        return ""
    base = next(iter(parents.values())).params.get("sweep.base_overrides", "(none)").split()
    shown = [o for o in base if not o.startswith(("tracking", "(none)"))]
    return f"; {' '.join(shown)}" if shown else ""


def _ran_untracked(sweep_id: str) -> bool:
    """True when the sweep's plan (in the default sweep folder) says it ran with tracking=none."""
    from hdmoe_ray.core.errors import HdmoeError
    from hdmoe_ray.tuning.plan import load_plan

    try:
        return load_plan(str(sweep_id), None).tracking.get("name") == "none"
    except HdmoeError:
        return False


def run_report(cfg, out_dir: Path) -> dict[str, Any]:
    """Library entry point behind the CLI: query, tabulate, plot, write, log back. Returns the summary."""
    from hdmoe_ray.core.atomic_io import atomic_write_json, atomic_write_text
    from hdmoe_ray.core.errors import ConfigError
    from hdmoe_ray.plots.report_plots import convergence, layer_breakdown, speedup_bars
    from hdmoe_ray.tracking.base import default_tracking_uri
    from hdmoe_ray.tracking.mlflow_query import log_artifacts, sweep_parents, trial_runs
    from hdmoe_ray.tuning.report_table import (
        build_table,
        markdown_seed_spread,
        markdown_table,
        seed_spread,
        write_csv,
    )
    from hdmoe_ray.tuning.sweep import mark_dead_drivers

    t0 = time.perf_counter()
    say = progress_printer("[hdmoe-report]")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.results_page:
        from hdmoe_ray.tuning.reproduction import run_results_page

        return run_results_page(cfg, out_dir, say)
    uri = cfg.tracking.uri or default_tracking_uri()
    experiment = cfg.experiment or cfg.tracking.experiment_name
    untracked = [sid for sid in cfg.sweep_ids or [] if _ran_untracked(sid)]
    if untracked:
        raise ConfigError("sweep_id", f"sweep {', '.join(untracked)} ran with tracking=none, so nothing of it "
                                      "is in MLflow (the report reads MLflow); its results are in the sweep "
                                      "folder's summary.json; rerun with tracking=mlflow to report it")
    runs = trial_runs(uri, experiment, cfg.sweep_ids or None, cfg.filter)
    if not runs:
        raise ConfigError("sweep_id" if cfg.sweep_ids else "filter",
                          f"no trial run matches sweep_id={cfg.sweep_ids or None} filter={cfg.filter!r} "
                          f"in experiment {experiment!r} at {uri}")
    sweep_ids = cfg.sweep_ids or sorted({r.tags.get("hdmoe.sweep_id", "") for r in runs} - {""})
    parents = sweep_parents(uri, experiment, sweep_ids)
    mark_dead_drivers(uri, parents, say)
    say(f"{len(runs)} trial runs of {len(sweep_ids)} sweep(s) from {uri}")
    table = build_table(runs, baseline=cfg.baseline, compare_key=cfg.compare_key, metric=cfg.metric)
    files = {"csv": write_csv(table, out_dir / "report.csv")}
    groups = table.groups()
    names = table.compared_values()
    speedups = {n: [next((r.get(table.speedup_column) for r in members if str(r.get(cfg.compare_key)) == n), None)
                    for _, members in groups] for n in names}
    shown = [g for g in range(len(groups)) if any(speedups[n][g] is not None for n in names)]
    if shown:
        labels = table.group_labels()
        if len(sweep_ids) > 1:
            labels = [f"{groups[g][1][0]['sweep_id']}\n{labels[g]}" for g in range(len(groups))]
        files["speedup"] = speedup_bars([labels[g] for g in shown], {n: [speedups[n][g] for g in shown] for n in names},
                                        out_dir / "speedup.png", baseline=cfg.baseline,
                                        title=f"Speedup over {cfg.baseline} ({cfg.metric}){_context(parents)}")
    if groups:
        from hdmoe_ray.plots.report_plots import MAX_BREAKDOWN_CONFIGS

        first = min(max(cfg.breakdown_group, 0), len(groups) - 1)
        per_config = {label: series for label, members in groups[first:first + MAX_BREAKDOWN_CONFIGS]
                      if (series := _breakdown_series(uri, members, cfg.compare_key))}
        if per_config:
            files["layer_breakdown"] = layer_breakdown(per_config, out_dir / "layer_breakdown.png",
                                                       title="Per-layer MoE time")
    curves, algorithm = _convergence_curves(table, parents)
    if curves:
        files["convergence"] = convergence(curves, out_dir / "convergence.png", metric=cfg.metric,
                                           group_of=algorithm.get)
    geo = table.geomean_speedups()
    failed = [r for r in table.rows if r["status"] != "FINISHED"]
    where = f"MLflow `{uri}`, experiment `{experiment}`" + (f", filter `{cfg.filter}`" if cfg.filter else "") + "."
    how = (f"{len(table.rows)} trials, {len(failed)} failed. Speedup = {cfg.metric} of `{cfg.compare_key}="
           f"{cfg.baseline}` / {cfg.metric} of the row, within each configuration (> 1 is faster).")
    md = [f"# hdmoe report: {', '.join(sweep_ids)}", "", where, how, ""]
    if geo:
        md += ["Geometric-mean speedup over " + cfg.baseline + ": "
               + ", ".join(f"**{k}** {v:.3f}x" for k, v in sorted(geo.items())), ""]
    md += [markdown_table(table), ""]
    spread = seed_spread(table)
    if spread:
        md += ["## Spread over seeds", "", "Trials that differ only in `seed`, folded: mean [min-max].", "",
               markdown_seed_spread(table, spread), ""]
    md += [f"![{k}]({Path(p).name})" for k, p in files.items() if str(p).endswith(".png")]
    if failed:
        md += ["", "## Failed trials", ""] + [f"- `{r['sweep_id']}/{r['trial']}`: {r['error']}" for r in failed]
    files["md"] = atomic_write_text(out_dir / "report.md", "\n".join(md) + "\n")
    summary = {"sweep_ids": sweep_ids, "experiment": experiment, "tracking_uri": uri, "filter": cfg.filter,
               "num_trials": len(table.rows), "num_failed": len(failed), "baseline": cfg.baseline,
               "geomean_speedup": geo, "seed_spread": spread, "files": {k: str(p) for k, p in files.items()},
               "wall_s": time.perf_counter() - t0}
    files["summary"] = atomic_write_json(out_dir / "summary.json", summary)
    if cfg.log_artifacts:
        for parent in parents.values():
            log_artifacts(uri, parent.run_id, list(files.values()), artifact_path="report")
        say(f"logged to the parent run(s) {', '.join(p.run_id for p in parents.values())} under report/")
    say(f"report: {files['md']}")
    return summary
