"""Figures 10-14 of the reproduction page: DeepSeek-V2-Lite's NodeBalance-only ablation against Node + Link.

The NodeBalance-only figures come from a ``repro-ablation`` sweep when the store has one, else from the
``hdmoe_node_balance_only`` figures that ``repro-fig8``'s trials carry (``optimize.node_balance_only_variant``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hdmoe_ray.tuning.paper_figures import CLAIMS, HARDWARE_LABELS
from hdmoe_ray.tuning.results_page import (
    HARDWARE,
    NODE_BALANCE_ONLY,
    Page,
    Trial,
    _cell,
    _table,
    group_by,
    speedup,
    spread,
)


def node_balance_only_trials(trials: list[Trial]) -> list[Trial]:
    """The "NodeBalance only" trials carried by optimisation trials run with optimize.node_balance_only_variant
    (their ``hdmoe_node_balance_only`` figures as the hdmoe ones), as a repro-ablation sweep would report them."""
    def as_ablation(t: Trial) -> Trial:
        def swap(values: dict[str, float]) -> dict[str, float]:
            return {**values, "hdmoe": values[NODE_BALANCE_ONLY]}
        return dataclasses.replace(t, sweep="repro-ablation", link_balance=False, tbt_us=swap(t.tbt_us),
                                   compute_us=swap(t.compute_us), comm_us=swap(t.comm_us),
                                   max_node_compute_us=swap(t.max_node_compute_us))
    return [as_ablation(t) for t in trials if all(NODE_BALANCE_ONLY in v for v in
                                                  (t.tbt_us, t.compute_us, t.comm_us, t.max_node_compute_us))]


def ablation(page: Page, trials: list[Trial], heatmaps: dict[str, Path]) -> None:
    page.add("## Figures 10-14: DeepSeek-V2-Lite ablation (4x8, B = 128)", "", f"**Paper:** {CLAIMS['ablation']}", "")
    full = [t for t in trials if t.sweep == "repro-fig8" and t.model == "deepseek_v2_lite"]
    nb_only = [t for t in trials if t.sweep == "repro-ablation"] or node_balance_only_trials(full)
    if not nb_only or not full:
        page.add("_No DeepSeek trial of `repro-fig8` with its NodeBalance-only figures (or of `repro-ablation`) "
                 "in the store._", "")
        return
    nb_groups, full_groups = group_by(nb_only, lambda t: t.hardware), group_by(full, lambda t: t.hardware)
    rows = []
    for hw in [h for h in HARDWARE if h in nb_groups and h in full_groups]:
        nb, nl = nb_groups[hw], full_groups[hw]
        tail = spread(nb, lambda t: t.max_node_compute_us["ep"] / t.max_node_compute_us["hdmoe"])
        nb_comm, nl_comm = (spread(x, lambda t: t.comm_us.get("hdmoe")) for x in (nb, nl))
        link_cut = f"{nb_comm.mean / nl_comm.mean:.2f}x" if nb_comm and nl_comm and nl_comm.mean > 0 else "-"
        rows.append([HARDWARE_LABELS[hw], _cell(speedup(nb, "tp"), 2, "x"), _cell(speedup(nb, "ep"), 2, "x"),
                     _cell(speedup(nb, "hybrid_cb"), 2, "x"), _cell(tail, 2, "x"), _cell(nb_comm), _cell(nl_comm),
                     link_cut, _cell(speedup(nl, "tp"), 2, "x")])
    page.add("NodeBalance alone (LinkBalance off: a seeded random placement of the clusters) and Node + Link, "
             "seeds 0-2, `profile=paper`. Compute tail: EP's summed per-layer maximum node compute over "
             "NodeBalance's. Communication: summed MoE all-to-all time (us).", "",
             *_table(["hardware", "NodeBalance vs TP", "vs EP", "vs CB", "compute tail cut (EP / NB)",
                      "comm, NB only", "comm, NB + LB", "comm cut by LB", "Node + Link vs TP"], rows), "")
    if heatmaps:
        page.add("Node load (mean per-layer compute, us) and link load (mean per-layer bytes) of DeepSeek-V2-Lite at "
                 "10 / 25, seed 0, EP against HD-MoE (figures 13-14):", "")
        for name, path in heatmaps.items():
            page.add(f"![{name}](results/{path.name})")
        page.add("")
