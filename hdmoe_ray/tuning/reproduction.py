"""``make reproduce``'s report step: the repro-* sweeps read back from MLflow, the conventions' effects
simulated, and the page of :mod:`hdmoe_ray.tuning.results_page` written (``hdmoe-report results_page=...``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hdmoe_ray.tuning.results_page import (
    OPTIONAL_SWEEPS,
    REAL_TRACE_MODELS,
    REPRO_SWEEPS,
    Trial,
    _config_label,
    render,
    trials_from_runs,
)

# ---------------------------------------------------------------- the conventions' effects (simulated here)

def convention_effects(seeds: Iterable[int], progress: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Each authors' convention against its alternative, one at a time, on the real-trace models at 10 / 25
    (B = 128, 4x8, mean over ``seeds``). hdmoe-free: only the baselines the conventions concern."""
    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.config.strategies import strategy_config
    from hdmoe_ray.simulation.simulator import prepare_inputs
    from hdmoe_ray.workflows.results import simulate_strategies

    seeds = list(seeds)
    cases = [
        ("CB communication costing", "hybrid_cb", "profile.cb_comm_model=flat_all_to_all",
         "a flat all-to-all (every TP partner sends to the aggregator)"),
        ("EP aggregator rule", "ep", "profile.aggregator_rule=largest_share",
         "the holder doing most of the group's work"),
        ("one EP placement for all layers", "ep", "profile.ep_placement=per_layer", "a fresh placement per layer"),
        ("CB regions without equal counts", "hybrid_cb", "profile.cb_region_counts=equal", "equal expert counts"),
        ("attention over MoE layers only", "tp", "profile.attention_layers=all", "every layer (27 for DeepSeek)"),
    ]
    out = []
    for model in REAL_TRACE_MODELS:
        for cause, strategy, override, label in cases:
            if cause.startswith("attention") and model == "mixtral_8x7b":
                continue  # every Mixtral layer is an MoE layer: nothing to compare
            values = {"authors": [], "alternative": []}
            for seed in seeds:
                for which, extra in (("authors", []), ("alternative", [override])):
                    run = compose_run_config([f"model={model}", "hardware=hdmoe_10t_25g", "profile=paper",
                                              f"seed={seed}", "tracking=none", *extra])
                    res = simulate_strategies(run, [strategy_config(strategy)], inputs=prepare_inputs(run))
                    values[which].append(res[strategy].breakdown.tbt_s * 1e6)
            authors, alternative = (sum(v) / len(v) for v in (values["authors"], values["alternative"]))
            progress(f"{cause}, {model}: {authors:.1f} us -> {alternative:.1f} us")
            out.append({"cause": cause, "config": _config_label(model, "hdmoe_10t_25g"), "strategy": strategy,
                        "authors": authors, "alternative": alternative, "alternative_label": label, "seeds": seeds})
    return out


# ---------------------------------------------------------------- the report job's entry point

# the sweeps `make reproduce` runs (conf/experiment/<name>.yaml), in order; each sets its sweep.id
REPRO_EXPERIMENTS = ("repro_fig8", "repro_fig9", "repro_fig9_authors_search", "repro_fig8_physical",
                     "repro_fig8_batch")
HEATMAP_TRIAL = {"sweep": "repro-fig8", "model": "deepseek_v2_lite", "hardware": "hdmoe_10t_25g", "seed": 0}
HEATMAP_FILES = ("node_load_ep.png", "node_load_hdmoe.png", "link_load_ep.png", "link_load_hdmoe.png")


def _heatmaps(uri: str, trials: list[Trial], figures_dir: Path, scratch: Path) -> dict[str, Path]:
    """The DeepSeek 10/25 seed-0 trial's node/link-load heatmaps (EP and HD-MoE), fetched through MLflow."""
    import shutil

    from hdmoe_ray.tracking.mlflow_query import download_artifacts

    want = HEATMAP_TRIAL
    trial = next((t for t in trials if (t.sweep, t.model, t.hardware, t.seed) ==
                  (want["sweep"], want["model"], want["hardware"], want["seed"])), None)
    if trial is None:
        return {}
    root = download_artifacts(uri, trial.run_id, scratch)
    found = {p.name: p for p in root.rglob("*.png")}
    out = {}
    figures_dir.mkdir(parents=True, exist_ok=True)
    for name in HEATMAP_FILES:
        if name in found:
            target = figures_dir / f"fig13_14_{name}"
            shutil.copyfile(found[name], target)
            out[name.removesuffix(".png").replace("_", " ")] = target
    return out


def run_results_page(cfg, out_dir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """``hdmoe-report results_page=<path>``: read the repro-* sweeps, simulate the conventions' effects, write
    the page (atomically, after its figures) and a summary in ``out_dir``."""
    import tempfile
    import time

    from hdmoe_ray.core.atomic_io import atomic_write_json, atomic_write_text
    from hdmoe_ray.core.errors import ConfigError
    from hdmoe_ray.tracking.base import default_tracking_uri
    from hdmoe_ray.tracking.mlflow_query import trial_runs

    t0 = time.perf_counter()
    uri = cfg.tracking.uri or default_tracking_uri()
    experiment = cfg.experiment or cfg.tracking.experiment_name
    sweep_ids = cfg.sweep_ids or [*REPRO_SWEEPS, *OPTIONAL_SWEEPS]
    runs = trial_runs(uri, experiment, sweep_ids, cfg.filter)
    if not runs:
        raise ConfigError("sweep_id", f"no trial of the reproduction sweeps {sweep_ids} in experiment {experiment!r} "
                                      f"at {uri}: run `make reproduce` (or the hdmoe-sweep experiment=repro_* "
                                      "commands it lists) first")
    from hdmoe_ray.tuning.results_dynamic import DYNAMIC_SWEEPS, dynamic_trials

    trials, failed = trials_from_runs(runs)
    dynamic = dynamic_trials(trial_runs(uri, experiment, list(DYNAMIC_SWEEPS)))
    say(f"{len(dynamic)} finished trials of the dynamic-placement sweeps {list(DYNAMIC_SWEEPS)}")
    say(f"{len(trials)} finished and {len(failed)} failed trials of {len(sweep_ids)} sweeps from {uri}")
    page_path = Path(cfg.results_page)
    with tempfile.TemporaryDirectory(prefix="hdmoe-results-") as scratch:
        heatmaps = _heatmaps(uri, trials, page_path.parent / "results", Path(scratch))
    say(f"simulating the conventions' effects (seeds {list(cfg.effect_seeds)})")
    effects = convention_effects(cfg.effect_seeds, say)
    commands = [f"hdmoe-sweep experiment={name}" for name in REPRO_EXPERIMENTS] + \
               ["make reproduce-dynamic  # dynamic placement: two static mappings, then the repro_dynamic sweeps",
                f"hdmoe-report results_page={cfg.results_page}"]
    page = render(page_path, trials, failed, effects, heatmaps, commands, dynamic)
    written = atomic_write_text(page_path, "\n".join(page.lines).rstrip() + "\n")
    summary = {"results_page": str(written), "figures": [str(p) for p in page.figures + list(heatmaps.values())],
               "num_trials": len(trials), "num_failed": len(failed), "sweep_ids": sweep_ids, "tracking_uri": uri,
               "effects": effects, "wall_s": time.perf_counter() - t0}
    atomic_write_json(Path(out_dir) / "summary.json", summary)
    say(f"results page: {written}")
    return summary
