"""The dynamic-placement section of the reproduction page from hand-made trial runs, and that
make reproduce-dynamic, the overlay and the page name the same sweeps."""

from __future__ import annotations

import re
from pathlib import Path

from hdmoe_ray.tracking.mlflow_query import RunRow
from hdmoe_ray.tuning.results_dynamic import DYNAMIC_SWEEPS, dynamic_section, dynamic_trials
from hdmoe_ray.tuning.results_page import Page

ROOT = Path(__file__).resolve().parents[2]


def _run(run_id, hardware, profile, predictor, k, summary, translation):
    params = {"hardware.name": hardware, "profile.name": profile, "strategy.dynamic.predictor": predictor,
              "strategy.dynamic.experts_per_layer": str(k), "workload.category": "summary",
              "strategy.mapping_path": f"/x/reproduce/static-{hardware}-law/mapping_hdmoe.npz"}
    metrics = {"tbt_us": 1000.0, "dynamic.speedup_over_static": summary,
               "dynamic.moe_speedup_over_static": summary + 0.1, "dynamic.recall_at_k": 0.6,
               "dynamic.exposed_us_per_batch": 0.0,
               "dynamic.deepseek_v2_lite_esft_translation.speedup_over_static": translation}
    return RunRow(run_id, "FINISHED", params, metrics, {"hdmoe.sweep_id": "repro-dynamic-x"})


RUNS = [_run("b", "hdmoe_2p5t_75g", "paper", "oracle", 5, 1.5, 1.6),
        _run("a", "hdmoe_5t_50g", "physical", "history", 2, 1.0, 1.01),
        _run("c", "hdmoe_5t_50g", "paper", "history", 2, 1.18, 1.23),
        RunRow("d", "FAILED", {}, {}, {})]


def test_runs_become_rows_per_task_in_hardware_then_profile_order():
    trials = dynamic_trials(RUNS)
    assert [(t.hardware, t.profile) for t in trials] == [("hdmoe_5t_50g", "paper"), ("hdmoe_5t_50g", "physical"),
                                                        ("hdmoe_2p5t_75g", "paper")]
    assert trials[0].speedup == {"summary": 1.18, "translation": 1.23}
    assert trials[0].train_task == "law" and trials[2].experts_per_layer == 5


def test_section_has_a_row_per_trial_a_figure_and_the_paper_comparison(tmp_path):
    page = Page(tmp_path / "RESULTS.md")
    dynamic_section(page, dynamic_trials(RUNS))
    text = "\n".join(page.lines)
    rows = [line for line in page.lines if line.startswith("| 5 / 50") or line.startswith("| 2.5 / 75")]
    assert len(rows) == 3
    assert "| 5 / 50 | 2 | paper | history | 1.180x | 1.230x | 1.280x | 0.600 | 0 | 1.15x |" in rows
    assert "1.23x at 5 / 50 (paper 1.15x), 1.60x at 2.5 / 75 (paper 1.25x)" in text
    assert (tmp_path / "results" / "dynamic_speedup.png").stat().st_size > 1000
    assert "optimised on the law task" in text


def test_without_trials_the_section_says_how_to_make_them(tmp_path):
    page = Page(tmp_path / "RESULTS.md")
    dynamic_section(page, [])
    assert any("make reproduce-dynamic" in line for line in page.lines) and not page.figures


def test_make_target_and_page_name_the_same_sweeps():
    makefile = (ROOT / "Makefile").read_text()
    points = re.search(r"DYNAMIC_POINTS := (.*)", makefile).group(1).split()
    assert tuple(f"repro-dynamic-{p.split(':')[2]}" for p in points) == DYNAMIC_SWEEPS
    assert (ROOT / "conf" / "experiment" / "repro_dynamic.yaml").is_file()
