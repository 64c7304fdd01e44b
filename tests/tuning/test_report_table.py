"""The report's comparison table: speedups within configuration groups, CSV and Markdown, plots."""

from __future__ import annotations

import csv
import json

import pytest

from hdmoe_ray.plots.report_plots import convergence, layer_breakdown, speedup_bars
from hdmoe_ray.tracking.mlflow_query import RunRow
from hdmoe_ray.tuning.report_table import build_table, markdown_table, write_csv


def row(key, index, label, tbt=None, status="FINISHED", sweep="s1", error=None):
    tags = {"hdmoe.sweep_id": sweep, "hdmoe.trial_key": key, "hdmoe.trial_index": str(index),
            "hdmoe.status": status, "hdmoe.label": json.dumps(label)}
    if error:
        tags["hdmoe.error"] = error
    metrics = {} if tbt is None else {"tbt_us": tbt, "moe_compute_us": tbt / 4, "moe_comm_us": tbt / 2,
                                      "attn_mem_us": tbt / 4}
    return RunRow(f"run-{sweep}-{key}", "FINISHED" if status == "FINISHED" else "FAILED", {}, metrics, tags)


@pytest.fixture
def runs():
    return [row("t0", 0, {"model": "a", "strategy": "tp"}, 100.0),
            row("t1", 1, {"model": "a", "strategy": "ep"}, 80.0),
            row("t2", 2, {"model": "a", "strategy": "hybrid_cb"}, 125.0),
            row("t3", 3, {"model": "b", "strategy": "tp"}, 60.0),
            row("t4", 4, {"model": "b", "strategy": "ep"}, 30.0),
            row("t5", 5, {"model": "b", "strategy": "hybrid_cb"}, status="FAILED", error="TraceError: boom"),
            row("t0", 0, {"model": "c", "strategy": "ep"}, 10.0, sweep="s2")]  # no tp: no speedups


def test_speedups_within_groups(runs):
    table = build_table(runs, baseline="tp")
    speed = {(r["sweep_id"], r["trial"]): r["speedup_vs_tp"] for r in table.rows}
    assert speed[("s1", "t0")] == pytest.approx(1.0)
    assert speed[("s1", "t1")] == pytest.approx(100 / 80)
    assert speed[("s1", "t2")] == pytest.approx(100 / 125)
    assert speed[("s1", "t4")] == pytest.approx(2.0)
    assert speed[("s1", "t5")] is None and speed[("s2", "t0")] is None
    assert [g for g, _ in table.groups()] == ["s1 model=a", "s1 model=b", "s2 model=c"]
    assert table.group_labels() == ["a", "b", "c"] and table.compared_values() == ["tp", "ep", "hybrid_cb"]
    geo = table.geomean_speedups()
    assert geo["ep"] == pytest.approx((1.25 * 2.0) ** 0.5) and geo["hybrid_cb"] == pytest.approx(0.8)


def test_other_baseline_and_key(runs):
    table = build_table(runs, baseline="a", compare_key="model")
    speed = {r["trial"]: r["speedup_vs_a"] for r in table.rows if r["sweep_id"] == "s1"}
    assert speed["t3"] == pytest.approx(100 / 60) and speed["t4"] == pytest.approx(80 / 30)


def test_csv_and_markdown(runs, tmp_path):
    table = build_table(runs)
    write_csv(table, tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and rows[5]["status"] == "FAILED" and rows[5]["error"] == "TraceError: boom"
    assert float(rows[1]["speedup_vs_tp"]) == pytest.approx(1.25) and rows[5]["tbt_us"] == ""
    md = markdown_table(table).splitlines()
    assert md[0].startswith("| sweep_id | trial | model | strategy | status | tbt_us")
    assert len(md) == 2 + 7 and "| 1.250 |" in md[3]


def test_plots_are_written(tmp_path):
    paths = [speedup_bars(["a", "b"], {"ep": [1.25, 2.0], "tp": [1.0, None]}, tmp_path / "s.png", baseline="tp"),
             layer_breakdown({"B=16": {"tp": ([1, 2], [1.0, 2.0], [3.0, 1.0])}}, tmp_path / "l.png"),
             convergence({"s1 (gp)": [5.0, 3.0, float("nan"), 2.0], "s2 (random)": [4.0, 4.5, 3.5, 3.9]},
                         tmp_path / "c.png", group_of=lambda n: n.split("(")[1].rstrip(")"))]
    for path in paths:
        assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"


def test_seed_spread_folds_rows_that_differ_only_in_seed():
    from hdmoe_ray.tuning.report_table import markdown_seed_spread, seed_spread

    rows = [row(f"t{i}", i, {"model": "a", "seed": seed, "strategy": s}, tbt)
            for i, (seed, s, tbt) in enumerate([(0, "tp", 100.0), (0, "ep", 80.0), (1, "tp", 100.0),
                                                (1, "ep", 50.0), (2, "tp", 100.0),
                                                (2, "ep", 40.0)])]
    rows.append(row("t9", 9, {"model": "a", "seed": 3, "strategy": "ep"}, status="FAILED", error="x"))
    table = build_table(rows)
    spread = {e["strategy"]: e for e in seed_spread(table)}
    assert set(spread) == {"tp", "ep"} and spread["ep"]["seeds"] == [0, 1, 2] and spread["ep"]["n"] == 3
    assert spread["ep"]["tbt_us"] == pytest.approx({"mean": (80 + 50 + 40) / 3, "min": 40.0, "max": 80.0})
    # speedups per seed: 100/80, 100/50, 100/40
    assert spread["ep"]["speedup_vs_tp"] == pytest.approx({"mean": (1.25 + 2.0 + 2.5) / 3, "min": 1.25, "max": 2.5})
    assert spread["tp"]["tbt_us"] == pytest.approx({"mean": 100.0, "min": 100.0, "max": 100.0})
    text = markdown_seed_spread(table, list(spread.values()))
    assert "| s1 | a | ep | 0,1,2 | 56.67 [40.00-80.00] | 1.917 [1.250-2.500] |" in text
    assert seed_spread(build_table([row("t0", 0, {"model": "a", "strategy": "tp"}, 1.0)])) == []
