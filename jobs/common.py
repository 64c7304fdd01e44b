"""What every hdmoe job shares: the Hydra entry wrapper, error handling, tracking, artifacts, progress."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

EXIT_BAD_INPUT = 2


def progress_printer(prefix: str = "[hdmoe]") -> Callable[[str], None]:
    """Progress lines on stderr with elapsed seconds (stdout stays clean for scripts)."""
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"{prefix} {time.perf_counter() - start:7.2f}s {message}", file=sys.stderr, flush=True)

    return say


def hydra_entry(config_name: str, job: Callable[[Any, Path], dict]) -> Callable[[], Any]:
    """A console-script ``main()`` that composes ``conf/<config_name>.yaml`` with the command line.

    The composed config becomes a frozen RunConfig once; ``job(run, output_dir)`` does the work. Any
    :class:`HdmoeError` (bad config, trace, mapping) prints ``error: ...`` and exits with status 2.
    """

    def main() -> Any:
        import hydra
        from hydra.core.hydra_config import HydraConfig

        from hdmoe_ray.config.loading import CONF_DIR, to_run_config
        from hdmoe_ray.config.store import register_configs
        from hdmoe_ray.errors import HdmoeError

        register_configs()

        @hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")
        def task(cfg) -> float | None:
            out_dir = Path(HydraConfig.get().runtime.output_dir).resolve()
            try:
                run = to_run_config(cfg)
                summary = job(run, out_dir)
            except HdmoeError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                sys.exit(EXIT_BAD_INPUT)
            return summary.get("tbt_us") if isinstance(summary, dict) else None

        return task()

    return main


@contextlib.contextmanager
def job_tracker(run, run_name: str, *, tags: dict[str, str] | None = None,
                parent_run_id: str | None = None) -> Iterator[Any]:
    """A started tracker that logs the resolved config and is marked FAILED if the body raises."""
    from hdmoe_ray.config.loading import flatten, resolved_dict
    from hdmoe_ray.tracking import make_tracker

    all_tags = {"hdmoe.git_commit": git_commit(), **(tags or {})}
    tracker = make_tracker(run.tracking, run_name, tags=all_tags, parent_run_id=parent_run_id)
    try:
        tracker.log_params(flatten(resolved_dict(run)))
        yield tracker
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")


def git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_strategy_artifacts(inputs, results: dict, out_dir: Path) -> list[Path]:
    """Per strategy: the mapping (npz) and node-load / link-load heatmaps (PNG). Returns the files."""
    from hdmoe_ray.plots.heatmaps import link_load_heatmap, node_load_heatmap
    from hdmoe_ray.strategies.mapping_io import config_hash, save_mapping

    run = inputs.run
    paths: list[Path] = []
    art = out_dir / "artifacts"
    art.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        paths.append(save_mapping(result.mapping, art / f"mapping_{name}.npz", config_hash(run)))
        node = result.node_compute_s().mean(axis=0) * 1e6
        paths.append(node_load_heatmap(inputs.mesh, node, art / f"node_load_{name}.png",
                                       title=f"{name}: mean per-layer node compute (us)", unit="us"))
        links = result.link_load_bytes()
        if links is not None:
            paths.append(link_load_heatmap(inputs.mesh, links.mean(axis=0), art / f"link_load_{name}.png",
                                           title=f"{name}: mean per-layer link load (bytes)", unit="bytes"))
    return paths


def log_result_to_tracker(tracker, summary: dict, results: dict, artifacts: list[Path]) -> None:
    """Totals as metrics (per strategy when compared), per-layer series as steps, files as artifacts."""
    totals = ("tbt_us", "moe_compute_us", "moe_comm_us", "attn_mem_us", "dense_us", "max_node_compute_us")
    metrics = {k: summary[k] for k in totals if summary.get(k) is not None}
    metrics["wall_s"] = summary["wall_s"]
    for name, fields in summary.get("results", {}).items():
        metrics.update({f"{name}.{k}": fields[k] for k in totals if fields.get(k) is not None})
    for name, value in summary.get("speedup", {}).items():
        metrics[f"speedup.{name}"] = value
    tracker.log_metrics(metrics)
    series = getattr(tracker, "log_metric_series", None)
    if series is not None:
        for name, result in results.items():
            layers = result.breakdown.per_layer
            steps = [int(lc.layer_id) for lc in layers]
            series(f"layer.{name}.compute_us", [lc.compute_s * 1e6 for lc in layers], steps)
            series(f"layer.{name}.comm_us", [lc.comm_s * 1e6 for lc in layers], steps)
    for path in artifacts:
        tracker.log_artifact(path)
