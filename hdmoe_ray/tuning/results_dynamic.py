"""The dynamic-placement section of the reproduction page (docs/RESULTS.md), from the ``repro-dynamic-*`` sweeps
(``make reproduce-dynamic``): speedup of dynamic placement over the static HD-MoE mapping per test task, at the
paper's two hardware points, under both profiles and for each predictor.

A trial of those sweeps is an ``hdmoe-simulate`` run with ``strategy.dynamic.enabled=true`` on sampled batches of
one task (``workload.category``) and, through ``strategy.dynamic.test_categories``, of the others; its static
mapping was optimised on another task (``strategy.mapping_path``), as in the paper's evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# the sweeps `make reproduce-dynamic` runs, one per hardware point (conf/experiment/repro_dynamic.yaml)
DYNAMIC_SWEEPS = ("repro-dynamic-5t50g", "repro-dynamic-2p5t75g")
# the paper's mean speedups over static HD-MoE (DeepSeek-V2-Lite, docs/paper.md section 6)
PUBLISHED_DYNAMIC = {"hdmoe_5t_50g": 1.15, "hdmoe_2p5t_75g": 1.25}
HARDWARE_TEXT = {"hdmoe_5t_50g": "5 / 50", "hdmoe_2p5t_75g": "2.5 / 75"}


@dataclass(frozen=True)
class DynamicTrial:
    """One finished trial: where it ran and its speedup over static per test task (``{task: speedup}``)."""

    hardware: str
    profile: str
    predictor: str
    experts_per_layer: int
    train_task: str
    speedup: dict[str, float]
    moe_speedup: float | None
    recall_at_k: float | None
    exposed_us_per_batch: float | None


def _task_of(trace_name: str) -> str:
    """``deepseek_v2_lite_esft_summary`` -> ``summary``."""
    return trace_name.rsplit("_", 1)[-1]


def dynamic_trials(runs: list) -> list[DynamicTrial]:
    """The finished trials of the dynamic sweeps (MLflow trial runs), in hardware, profile, predictor order."""
    out = []
    for run in runs:
        p, m = run.params, run.metrics
        if "dynamic.speedup_over_static" not in m:
            continue
        speedup = {str(p.get("workload.category", "?")): m["dynamic.speedup_over_static"]}
        for name, value in m.items():
            if name.startswith("dynamic.") and name.endswith(".speedup_over_static") and name.count(".") == 2:
                speedup[_task_of(name.split(".")[1])] = value
        mapping = str(p.get("strategy.mapping_path") or "")
        out.append(DynamicTrial(
            hardware=p.get("hardware.name", "?"), profile=p.get("profile.name", "?"),
            predictor=p.get("strategy.dynamic.predictor", "?"),
            experts_per_layer=int(float(p.get("strategy.dynamic.experts_per_layer", 0))),
            train_task=_train_task(mapping), speedup=speedup, moe_speedup=m.get("dynamic.moe_speedup_over_static"),
            recall_at_k=m.get("dynamic.recall_at_k"), exposed_us_per_batch=m.get("dynamic.exposed_us_per_batch")))
    order = {h: i for i, h in enumerate(PUBLISHED_DYNAMIC)}
    return sorted(out, key=lambda t: (order.get(t.hardware, 9), t.profile != "paper", t.predictor))


def _train_task(mapping_path: str) -> str:
    """The task the static mapping was optimised on, as ``make reproduce-dynamic`` names its folders
    (``.../static-<hardware>-<task>/mapping_hdmoe.npz``); ``?`` for another layout."""
    folder = Path(mapping_path).parent.name
    return folder.rsplit("-", 1)[-1] if folder.startswith("static-") else "?"


def _fmt(value: float | None, digits: int = 3, suffix: str = "") -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}{suffix}"


def dynamic_section(page, trials: list[DynamicTrial]) -> None:
    """The page's "Dynamic placement" section: a table and one bar chart (speedup per task)."""
    from hdmoe_ray.plots.results_plots import spread_bars

    page.add("## Dynamic placement (the paper's section 5)", "")
    if not trials:
        page.add(f"No trial of the sweeps {', '.join(DYNAMIC_SWEEPS)} was read: run `make reproduce-dynamic` "
                 "(it optimises the static mappings, runs both sweeps, then rewrites this page).", "")
        return
    tasks = sorted({task for t in trials for task in t.speedup})
    page.add("DeepSeek-V2-Lite, 4x8, B = 512, 16 sampled batches per task, seed 0. The static HD-MoE mapping is "
             f"optimised on the {', '.join(sorted({t.train_task for t in trials}))} task and dynamic placement runs "
             "on the others. Speedup = mean over batches of static TBT / dynamic TBT (attention and memory "
             "included). Under `paper` the broadcast hides under attention as the authors assume; under "
             "`physical` it is timed on the links and bounded by node memory ([dynamic.md](dynamic.md)).", "")
    header = ["TFLOPS / GB/s", "k", "profile", "predictor", *(f"speedup, {task}" for task in tasks),
              "MoE speedup", "recall@k", "exposed broadcast (us / batch)", "paper"]
    rows = []
    for t in trials:
        rows.append([HARDWARE_TEXT.get(t.hardware, t.hardware), str(t.experts_per_layer), t.profile, t.predictor,
                     *(_fmt(t.speedup.get(task), 3, "x") for task in tasks), _fmt(t.moe_speedup, 3, "x"),
                     _fmt(t.recall_at_k, 3), _fmt(t.exposed_us_per_batch, 0),
                     _fmt(PUBLISHED_DYNAMIC.get(t.hardware), 2, "x") if t.profile == "paper" else "-"])
    page.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows),
             "")
    groups = [f"{HARDWARE_TEXT.get(t.hardware, t.hardware)} k={t.experts_per_layer}\n{t.profile}, {t.predictor}"
              for t in trials]
    series: dict[str, list[Any]] = {}
    for task in tasks:
        series[task] = [None if task not in t.speedup else (t.speedup[task],) * 3 for t in trials]
    page.figure("dynamic_speedup.png",
                lambda path: spread_bars(groups, series, path, ylabel="speedup over static HD-MoE (TBT)",
                                         title="Dynamic placement on DeepSeek-V2-Lite, 4x8, B = 512 "
                                               "(paper: 1.15x at 5/50, 1.25x at 2.5/75)"),
                "Dynamic placement: speedup over static HD-MoE per test task")
    paper_rows = [t for t in trials if t.profile == "paper"]
    if paper_rows:
        best = {h: max((max(t.speedup.values()) for t in paper_rows if t.hardware == h), default=None)
                for h in PUBLISHED_DYNAMIC}
        page.add("Against the paper (`paper` profile): the best predictor reaches "
                 + ", ".join(f"{_fmt(v, 2, 'x')} at {HARDWARE_TEXT[h]} (paper {PUBLISHED_DYNAMIC[h]:.2f}x)"
                             for h, v in best.items() if v is not None)
                 + ". The `oracle` row is the bound with perfect prediction; the paper predicts from the next "
                   "layer's gate with hidden states, which ID-only traces cannot replay.", "")
