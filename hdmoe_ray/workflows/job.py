"""What every workflow shares: progress lines, a tracked run, the git commit, per-strategy artifacts."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hdmoe_ray.config.loading import flatten, resolved_dict
from hdmoe_ray.core.atomic_io import atomic_write_json
from hdmoe_ray.strategies.mapping_io import config_hash, save_mapping
from hdmoe_ray.tracking import make_tracker
from hdmoe_ray.tracking.metrics import Series, log_summary


def progress_printer(prefix: str = "[hdmoe]") -> Callable[[str], None]:
    """Progress lines on stderr with elapsed seconds (stdout stays clean for scripts)."""
    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"{prefix} {time.perf_counter() - start:7.2f}s {message}", file=sys.stderr, flush=True)

    return say


def git_commit() -> str:
    """The checked-out commit of this package's repository, or ``unknown``."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextlib.contextmanager
def tracked_run(run, run_name: str, *, tags: dict[str, str] | None = None,
                parent_run_id: str | None = None) -> Iterator[Any]:
    """A started tracker that logs the resolved config and is marked FAILED if the body raises."""
    all_tags = {"hdmoe.git_commit": git_commit(), **(tags or {})}
    tracker = make_tracker(run.tracking, run_name, tags=all_tags, parent_run_id=parent_run_id)
    try:
        tracker.log_params(flatten(resolved_dict(run)))
        yield tracker
    except BaseException:
        tracker.finish("FAILED")
        raise
    tracker.finish("FINISHED")


def save_strategy_artifacts(inputs, results: dict, out_dir: Path) -> list[Path]:
    """Per strategy: the mapping (npz) and node-load / link-load heatmaps (PNG). Returns the files."""
    from hdmoe_ray.plots.heatmaps import link_load_heatmap, node_load_heatmap

    run = inputs.run
    paths: list[Path] = []
    art = out_dir / "artifacts"
    art.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        if name != result.strategy.name:  # a costing variant of a strategy (hybrid_cb_hdmoe_proxy): same mapping
            continue
        paths.append(save_mapping(result.mapping, art / f"mapping_{name}.npz", config_hash(run),
                                  mesh_shape=(run.hardware.mesh_x, run.hardware.mesh_y)))
        node = result.node_compute_s().mean(axis=0) * 1e6
        paths.append(node_load_heatmap(inputs.mesh, node, art / f"node_load_{name}.png",
                                       title=f"{name}: mean per-layer node compute (us)", unit="us"))
        links = result.link_load_bytes()
        if links is not None and links.shape[1] > 0:  # a 1x1 mesh has no link to draw
            paths.append(link_load_heatmap(inputs.mesh, links.mean(axis=0), art / f"link_load_{name}.png",
                                           title=f"{name}: mean per-layer link load (bytes)", unit="bytes"))
    return paths


def finish_run(tracker, inputs, results: dict, summary: dict, out_dir: Path,
               extra_series: Series | None = None) -> Path:
    """Artifacts, then summary.json (atomically, last), then everything logged to the tracker."""
    artifacts = save_strategy_artifacts(inputs, results, out_dir)
    summary_path = atomic_write_json(out_dir / "summary.json", summary)
    log_summary(tracker, summary, artifacts + [summary_path], extra_series)
    return summary_path
