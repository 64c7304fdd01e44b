"""strategy.equal_region_counts=false: the region MILP without its equal-count rows (the authors' ILP).

Hand case, R = 2, f = [7, 5, 3, 3, 3, 3] (sum 24, lower bound 12):
- equal counts (3 + 3): a region with the 7 takes two more experts, at best 7 + 3 + 3 = 13 (the 5 beside
  it is worse: 7 + 5 + 3 = 15), so the optimum is 13;
- any counts: {7, 5} and {3, 3, 3, 3} load 12 and 12 (counts 2 and 4), the bound, so 12 is optimal.
  Plain LPT (7, 5, 3->5, 3->7, 3->8, 3->10) ends at 13, so the solver has to find it.
"""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.config.strategies import HybridCbConfig
from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.optimizer.baselines.region_milp import (
    assign_experts_to_regions,
    lpt_assignment,
    solve_region_milp,
)

F = np.array([7.0, 5.0, 3.0, 3.0, 3.0, 3.0])


def _loads_and_counts(regions):
    loads = sorted(np.bincount(regions, weights=F, minlength=2).tolist())
    counts = sorted(np.bincount(regions, minlength=2).tolist())
    return loads, counts


def test_lpt_alone_misses_the_optimum():
    assert _loads_and_counts(lpt_assignment(F, 2)) == ([11.0, 13.0], [3, 3])


def test_equal_counts_is_today_and_costs_13():
    result = assign_experts_to_regions(F, 2, time_limit_s=10.0, gap=0.0)
    assert result.max_load == 13.0
    assert _loads_and_counts(result.region_of_expert)[1] == [3, 3]


def test_without_equal_counts_the_regions_get_2_and_4_experts_at_load_12():
    result = assign_experts_to_regions(F, 2, time_limit_s=10.0, gap=0.0, equal_counts=False)
    assert result.max_load == 12.0
    assert result.method == "milp"
    assert _loads_and_counts(result.region_of_expert) == ([12.0, 12.0], [2, 4])
    assert result.region_of_expert[0] == result.region_of_expert[1]  # 7 and 5 together


def test_the_bare_milp_honours_the_switch():
    with_counts, _ = solve_region_milp(F, 2, time_limit_s=10.0, gap=0.0)
    without, _ = solve_region_milp(F, 2, time_limit_s=10.0, gap=0.0, equal_counts=False)
    assert _loads_and_counts(with_counts)[0][-1] == 13.0
    assert _loads_and_counts(without) == ([12.0, 12.0], [2, 4])


def test_the_strategy_option_defaults_to_the_profile_and_is_validated():
    assert HybridCbConfig().equal_region_counts is None  # profile.cb_region_counts decides
    assert HybridCbConfig(equal_region_counts=False).equal_region_counts is False
    with pytest.raises(ConfigError, match="strategy.equal_region_counts"):
        HybridCbConfig(equal_region_counts="no")
