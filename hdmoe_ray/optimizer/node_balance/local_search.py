"""Construction and local search for NodeBalance at a fixed load target T (exact objective terms).

For a target T on max_c load_c, the compute term is at most a*T, so the search minimises the comm term
max_c touch_c subject to ``load_c <= T``. Ties and plateaus of the max are broken by the smooth
log-sum-exp of touch (temperature ``TAU``): a move is taken when it lowers the LSE, which lowers the
maximum or, at equal maximum, the clusters just below it.

Moves, each evaluated exactly for all candidates at once:
- relocate: an expert's whole share on the source cluster moves to another cluster (merging when that
  cluster already holds the expert);
- swap: the shares of expert i on cluster a and expert j on cluster b trade places.
"""

from __future__ import annotations

import time

import numpy as np

from hdmoe_ray.optimizer.node_balance.state import PlacementState

TAU = 0.004  # LSE temperature in touch units (touch_c is a share of tokens, ~0.1-0.5)
_FEAS = 1e-9


def greedy_fill(state: PlacementState, target_load: float, order: np.ndarray) -> PlacementState:
    """Place experts in ``order`` (typically hottest first) onto an empty state, loads <= target.

    Each expert goes whole onto the cluster where it fits with the lowest resulting touch_c (co-activated
    experts share clusters, touch stays balanced); an expert that fits nowhere fills the roomiest cluster
    and its remainder continues (a split). Experts with f_i = 0 go to the cluster holding fewest weights.
    """
    p = state.problem
    mem = np.inf if p.max_experts_per_cluster is None else p.max_experts_per_cluster
    for i in order:
        fi = float(p.expert_freq[i])
        if fi <= 0:
            state.add(int(i), int(np.argmin(state.held)), 1.0)
            continue
        left = 1.0  # share of the expert still to place
        while left > 1e-12:
            room = np.minimum((target_load - state.load) / fi, mem - state.held)  # in shares
            room[state.share[i] > 0] = 0.0  # pieces of one expert never meet twice in the fill
            fits = room >= left - 1e-12
            if fits.any():
                new_touch = state.touch + state.touch_gain(int(i))
                c = int(np.argmin(np.where(fits, new_touch + 1e-9 * state.load, np.inf)))
                amount = left
            else:
                c = int(np.argmax(room))
                amount = float(room[c])
                if amount <= 1e-12:  # infeasible target: overfill the least loaded cluster
                    c = int(np.argmin(state.load))
                    amount = left
            state.add(int(i), c, amount)
            left -= amount
    return state


def _lse_terms(touch: np.ndarray, ref: float) -> np.ndarray:
    return np.exp((touch - ref) / TAU)


def local_search(state: PlacementState, target_load: float, *, deadline: float, max_moves: int = 10_000,
                 num_sources: int = 3) -> int:
    """Improve ``state`` in place by relocations and swaps out of the most-touched clusters.

    Returns the number of moves made. Loads stay <= max(target_load, current max load) and memory caps hold.
    """
    p = state.problem
    f, fg, members = p.expert_freq, p.group_freq, p.members
    mem = np.inf if p.max_experts_per_cluster is None else p.max_experts_per_cluster
    cap = max(target_load, float(state.load.max()))
    members_i16 = members.astype(np.int16)
    moves = 0
    while moves < max_moves and time.perf_counter() < deadline:
        ref = float(state.touch.max())
        terms = _lse_terms(state.touch, ref)
        base = float(terms.sum())
        best = (-1e-12 * base, None)
        pieces_e, pieces_c = np.nonzero(state.share > 0)
        for a in np.argsort(-state.touch)[:num_sources]:
            a = int(a)
            for i in np.flatnonzero(state.share[:, a] > 0):
                i = int(i)
                s_i = float(state.share[i, a])
                q_i = s_i * f[i]
                gi = state.groups_of[i]
                new_a_reloc = state.touch[a] - state.touch_loss(i, a)
                # relocate (i, a) -> b, all b at once
                gain = state.touch_gain(i)
                ok = (state.load + q_i <= cap + _FEAS) & (state.held + s_i <= mem + _FEAS)
                ok[a] = False
                new_b = state.touch + gain
                delta = (_lse_terms(new_b, ref) - terms) + (np.exp((new_a_reloc - ref) / TAU) - terms[a])
                delta = np.where(ok, delta, np.inf)
                b = int(np.argmin(delta))
                if delta[b] < best[0]:
                    best = (float(delta[b]), ("reloc", i, a, b))
                # swap (i, a) <-> (j, b) for every piece not on a
                sel = (pieces_c != a) & (pieces_e != i)
                pj, pb = pieces_e[sel], pieces_c[sel]
                if pj.size == 0:
                    continue
                s_j = state.share[pj, pb]
                q_j = s_j * f[pj]
                ok = ((state.load[a] - q_i + q_j <= cap + _FEAS) & (state.load[pb] - q_j + q_i <= cap + _FEAS)
                      & (state.held[a] - s_i + s_j <= mem + _FEAS) & (state.held[pb] - s_j + s_i <= mem + _FEAS))
                if not ok.any():
                    continue
                pj, pb = pj[ok], pb[ok]
                col_a = state.count[:, a] - members_i16[:, i]
                j_new_on_a = (state.share[pj, a] <= 0).astype(np.int16)
                touch_a = fg @ ((col_a[:, None] + members_i16[:, pj] * j_new_on_a[None, :]) > 0)
                i_new_on_b = (state.share[i, pb] <= 0).astype(np.int16)
                col_b = state.count[:, pb] - members_i16[:, pj] + members_i16[:, i][:, None] * i_new_on_b[None, :]
                touch_b = fg @ (col_b > 0)
                delta = (_lse_terms(touch_a, ref) - terms[a]) + (_lse_terms(touch_b, ref) - terms[pb])
                k = int(np.argmin(delta))
                if delta[k] < best[0]:
                    best = (float(delta[k]), ("swap", i, a, int(pj[k]), int(pb[k])))
                del gi
        if best[1] is None:
            break
        _apply(state, best[1])
        moves += 1
    return moves


def _apply(state: PlacementState, move: tuple) -> None:
    if move[0] == "reloc":
        _, i, a, b = move
        state.add(i, b, state.remove(i, a))
    else:
        _, i, a, j, b = move
        s_i = state.remove(i, a)
        s_j = state.remove(j, b)
        state.add(i, b, s_i)
        state.add(j, a, s_j)


def perturb(state: PlacementState, rng: np.random.Generator, num_moves: int, target_load: float) -> None:
    """Random feasible relocations (the kick of an iterated local search)."""
    p = state.problem
    mem = np.inf if p.max_experts_per_cluster is None else p.max_experts_per_cluster
    cap = max(target_load, float(state.load.max()))
    for _ in range(num_moves):
        pe, pc = np.nonzero(state.share > 0)
        k = int(rng.integers(pe.size))
        i, a = int(pe[k]), int(pc[k])
        s = float(state.share[i, a])
        ok = (state.load + s * p.expert_freq[i] <= cap + _FEAS) & (state.held + s <= mem + _FEAS)
        ok[a] = False
        dest = np.flatnonzero(ok)
        if dest.size:
            state.add(i, int(rng.choice(dest)), state.remove(i, a))
