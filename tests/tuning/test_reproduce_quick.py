"""make reproduce-quick end to end (CI's reduced reproduction): Mixtral-8x7B at 10 TFLOPS / 25 GB/s, B = 128,
seeds 0-2, as a tracked sweep, then the results page read back from MLflow.

The checks are the reproduction targets of the paper issue, against the authors' published figures: TP within
0.5%; EP and hybrid CB (costed as the published figures were, on the HD-MoE mapping) within 3% of the
published value on average over the seeds; and the page's tables built from the trials (not typed in)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdmoe_ray.tuning.paper_figures import PUBLISHED_TBT_US

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.xdist_group("ray")]

ROOT = Path(__file__).resolve().parents[2]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.timeout(2400)  # three Mixtral optimisations and the page: minutes, more than the default 300 s
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_reproduce_quick_meets_the_published_mixtral_figures(tmp_path):
    env_bin = Path(sys.executable).parent
    stamp = env_bin.parent / ".installed"
    # -o: never rebuild the environment from inside a test; VENV: the interpreter running the tests
    cmd = ["make", "-s", "-o", str(stamp), "reproduce-quick", f"VENV={env_bin.parent}",
           f"REPRO_DIR={tmp_path / 'repro'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (tmp_path / "repro-quick" / "RESULTS.md").read_text()
    assert "3 trials finished." in page
    assert (tmp_path / "repro-quick" / "results" / "fig8_speedup_paper.png").stat().st_size > 0
    published = PUBLISHED_TBT_US[("mixtral_8x7b", "hdmoe_10t_25g")]
    rows = {m.group(1): m.groups() for m in re.finditer(
        r"^\| Mixtral-8x7B, 10 TFLOPS / 25 GB/s \| (TP|EP|hybrid CB, HD-MoE proxy|hybrid CB) \| ([\d,.]+) \| "
        r"([\d,.]+)(?: \[([\d,.]+)-([\d,.]+)\])? \|", page, re.M)}
    assert set(rows) == {"TP", "EP", "hybrid CB, HD-MoE proxy", "hybrid CB"}
    assert _number(rows["TP"][1]) == published["tp"]
    assert _number(rows["TP"][2]) == pytest.approx(published["tp"], rel=0.005)
    assert _number(rows["EP"][2]) == pytest.approx(published["ep"], rel=0.03)
    assert _number(rows["hybrid CB, HD-MoE proxy"][2]) == pytest.approx(published["hybrid_cb"], rel=0.03)
    # the self-consistent CB is slower than the published way, and the page says by how much
    assert _number(rows["hybrid CB"][2]) > _number(rows["hybrid CB, HD-MoE proxy"][2])
    assert "The published CB figures' slip" in page
    # the page's numbers are the trials' numbers: TP's TBT equals the sweep's trial summaries
    summaries = list((tmp_path / "repro-quick" / "sweeps").rglob("summary.json"))
    tp = {round(json.loads(p.read_text())["results"]["tp"]["tbt_us"], 1) for p in summaries
          if "results" in json.loads(p.read_text())}
    assert tp == {_number(rows["TP"][2])}
