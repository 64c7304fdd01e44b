"""Warm starts for NodeBalance: a given share matrix (the balanced EP placement, the previous layer's or a
neighbouring configuration's solution) made valid for this layer's program.

A share that is already feasible (unit rows, loads and memory within the caps) is kept as it is and is
itself a candidate, so :func:`~hdmoe_ray.optimizer.node_balance.solve.node_balance` never returns a worse
objective than a feasible warm start. One that breaks a cap here (another layer's frequencies, another
hardware point's cap) is first rebalanced on its own supports (an LP, touch unchanged) and then repaired:
from the most overloaded cluster, shares of its experts move to the cluster where they add the least touch
and still fit, split when only part fits. The repaired share starts a local search like any other start.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.optimizer.node_balance.problem import NodeBalanceProblem, check_share
from hdmoe_ray.optimizer.node_balance.state import PlacementState

_FEAS = 1e-9


def clean_warm_start(problem: NodeBalanceProblem, share: np.ndarray) -> np.ndarray:
    """The share with negatives dropped and unit rows; MappingError on a wrong shape or an empty row."""
    share = np.asarray(share, dtype=np.float64)
    if share.shape != (problem.num_experts, problem.num_clusters):
        raise MappingError(f"warm start has shape {share.shape}, expected "
                           f"({problem.num_experts}, {problem.num_clusters})", layer=problem.layer)
    out = np.where(np.isfinite(share) & (share > 0), share, 0.0)
    rows = out.sum(axis=1)
    if (rows <= 0).any():
        raise MappingError(f"warm start places none of expert {int(np.argmax(rows <= 0))}", layer=problem.layer)
    return out / rows[:, None]


def is_feasible(problem: NodeBalanceProblem, share: np.ndarray) -> bool:
    """True when ``share`` passes the result's checks (unit rows, load cap, memory cap)."""
    try:
        check_share(problem, share)
    except MappingError:
        return False
    return True


def repair_caps(state: PlacementState, *, max_steps: int | None = None) -> bool:
    """Move shares off clusters above the load or memory cap (in place); False if it could not finish.

    Each step takes the cluster furthest above a cap, and of its experts the one whose move fits best
    (hottest first for load, as fewer shares move), to the feasible destination of least resulting touch.
    """
    p = state.problem
    f = p.expert_freq
    cap = p.load_cap
    mem = np.inf if p.max_experts_per_cluster is None else p.max_experts_per_cluster
    steps = max_steps if max_steps is not None else 4 * p.num_experts * p.num_clusters
    for _ in range(steps):
        over_load = state.load - cap
        over_mem = state.held - mem
        excess = np.maximum(over_load / max(cap, 1e-300), over_mem / (mem if np.isfinite(mem) else 1.0))
        a = int(np.argmax(excess))
        if excess[a] <= _FEAS:
            return True
        moved = False
        for i in np.flatnonzero(state.share[:, a] > 0)[np.argsort(-f[state.share[:, a] > 0], kind="stable")]:
            i = int(i)
            s_i = float(state.share[i, a])
            need = max(over_load[a] / f[i] if f[i] > 0 else 0.0, over_mem[a], 0.0)
            room = np.minimum((cap - state.load) / f[i] if f[i] > 0 else np.inf, mem - state.held)
            room[a] = 0.0
            if room.max() <= _FEAS:
                continue
            new_touch = state.touch + state.touch_gain(i)
            b = int(np.argmin(np.where(room > _FEAS, new_touch, np.inf)))
            amount = min(s_i, need * (1 + 1e-12) + _FEAS, float(room[b]))
            state.remove(i, a)
            if s_i - amount > _FEAS:
                state.add(i, a, s_i - amount)
            else:
                amount = s_i
            state.add(i, b, amount)
            moved = True
            break
        if not moved:
            return False
    return bool(np.all(state.load <= cap + _FEAS) and np.all(state.held <= mem + _FEAS))
