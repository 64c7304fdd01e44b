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
_TOUCH_TOL = 1e-12  # touch values closer than this are equal (group frequencies are >= 1/tokens)


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


def _changed(old_a, old_b, new_a, new_b) -> np.ndarray:
    """False where a move leaves the pair of touches as it was (equal, or exchanged: a swap of two clusters'
    roles). Its LSE change is zero, but rounding (incremental touch, summation order) can make it look like
    -1e-12: such moves and their reverses cycled until the time cap (4x4 DeepSeek-V2-Lite layers)."""
    hi_old, lo_old = np.maximum(old_a, old_b), np.minimum(old_a, old_b)
    hi_new, lo_new = np.maximum(new_a, new_b), np.minimum(new_a, new_b)
    return (np.abs(hi_new - hi_old) > _TOUCH_TOL) | (np.abs(lo_new - lo_old) > _TOUCH_TOL)


def local_search(state: PlacementState, target_load: float, *, deadline: float, max_moves: int = 10_000,
                 num_sources: int = 3) -> int:
    """Improve ``state`` in place by relocations and swaps out of the most-touched clusters.

    Returns the number of moves made. Loads stay <= max(target_load, current max load) and memory caps hold.
    A swap's two new touches are evaluated sparsely (exact). With i leaving a and j arriving,
    ``touch_a' = touch_a - loss(i, a) + [j new on a] * (Z_a[j] + sum_{g ∋ i, j} f_g [count[g, a] = 1])``, where
    ``Z_a[j] = sum_{g ∋ j} f_g [count[g, a] = 0]`` is one pass over the group-expert pairs per source cluster
    (groups holding i are on a, so they are not in Z_a); and with j leaving b and i arriving,
    ``touch_b' = touch_b - loss(j, b) + [i new on b] * (gain_i[b] + sum_{g ∋ i, j} f_g [count[g, b] = 1])``.
    The co-occurrence sums run over the groups of i and their other members only (|g_i| x k).

    With the total-traffic term (``problem.comm_s_per_total_touch`` b_total > 0) a move is scored in seconds:
    ``b * TAU * (LSE change) / sum(LSE terms) + b_total * (change of sum_c touch_c)``, the first part being
    the first-order change of the smooth max; without it the score is the LSE change alone, as before.
    """
    p = state.problem
    f, fg, inc = p.expert_freq, p.group_freq, p.incidence
    num_e = p.num_experts
    mem = np.inf if p.max_experts_per_cluster is None else p.max_experts_per_cluster
    cap = max(target_load, float(state.load.max()))
    moves = 0
    b_total = p.comm_s_per_total_touch
    while moves < max_moves and time.perf_counter() < deadline:
        ref = float(state.touch.max())
        terms = _lse_terms(state.touch, ref)
        if b_total:  # seconds per unit of LSE change, and the threshold in seconds
            per_term = p.comm_s_per_touch * TAU / float(terms.sum())
            best = (-1e-12 * (p.comm_s_per_touch * ref + b_total * float(state.touch.sum())), None)
        else:
            best = (-1e-12 * float(terms.sum()), None)
        pieces_e, pieces_c = np.nonzero(state.share > 0)  # sorted by expert
        piece_ptr = np.searchsorted(pieces_e, np.arange(num_e + 2))  # pieces of expert j: [ptr[j], ptr[j+1])
        s_p = state.share[pieces_e, pieces_c]
        q_p = s_p * f[pieces_e]
        loss_p = state.piece_losses(pieces_e, pieces_c)
        load_p, held_p = state.load[pieces_c], state.held[pieces_c]
        for a in np.argsort(-state.touch)[:num_sources]:
            a = int(a)
            z_a = inc.per_expert_sum(fg * (state.count[:, a] == 0))
            for i in np.flatnonzero(state.share[:, a] > 0):
                i = int(i)
                s_i = float(state.share[i, a])
                q_i = s_i * f[i]
                new_a = state.touch[a] - state.touch_loss(i, a)
                # relocate (i, a) -> b, all b at once
                ok = (state.load + q_i <= cap + _FEAS) & (state.held + s_i <= mem + _FEAS)
                ok[a] = False
                gain_i = state.touch_gain(i)
                new_b = state.touch + gain_i
                delta = (_lse_terms(new_b, ref) - terms) + (np.exp((new_a - ref) / TAU) - terms[a])
                if b_total:
                    delta = per_term * delta + b_total * (gain_i + (new_a - state.touch[a]))
                delta = np.where(ok & _changed(state.touch[a], state.touch, new_a, new_b), delta, np.inf)
                b = int(np.argmin(delta))
                if delta[b] < best[0]:
                    best = (float(delta[b]), ("reloc", i, a, b))
                # swap (i, a) <-> (j, b) for every piece not on a
                ok = ((pieces_c != a) & (pieces_e != i)
                      & (state.load[a] - q_i + q_p <= cap + _FEAS) & (load_p - q_p + q_i <= cap + _FEAS)
                      & (state.held[a] - s_i + s_p <= mem + _FEAS) & (held_p - s_p + s_i <= mem + _FEAS))
                k = np.flatnonzero(ok)
                if k.size == 0:
                    continue
                pj, pb = pieces_e[k], pieces_c[k]
                co_g, co_j = _co_members(inc, state.groups_of[i], i)
                co_a = np.bincount(co_j, weights=fg[co_g] * (state.count[co_g, a] == 1), minlength=num_e + 1)
                touch_a = new_a + np.where(state.share[pj, a] <= 0, z_a[pj] + co_a[pj], 0.0)
                co_b = _co_piece_sums(state, co_g, co_j, piece_ptr, pieces_c, fg)
                gain_b = np.where(state.share[i, pb] <= 0, gain_i[pb] + co_b[k], 0.0)
                touch_b = state.touch[pb] - loss_p[k] + gain_b
                delta = (_lse_terms(touch_a, ref) - terms[a]) + (_lse_terms(touch_b, ref) - terms[pb])
                if b_total:
                    delta = per_term * delta + b_total * ((touch_a - state.touch[a]) + (touch_b - state.touch[pb]))
                delta = np.where(_changed(state.touch[a], state.touch[pb], touch_a, touch_b), delta, np.inf)
                m = int(np.argmin(delta))
                if delta[m] < best[0]:
                    best = (float(delta[m]), ("swap", i, a, int(pj[m]), int(pb[m])))
        if best[1] is None:
            break
        _apply(state, best[1])
        moves += 1
    return moves


def _co_members(inc, groups_i: np.ndarray, expert: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (group g, expert j) with g a group of ``expert`` and j another member of g."""
    others = inc.group_members[groups_i]
    keep = (others != expert) & (others < inc.num_experts)
    return np.broadcast_to(groups_i[:, None], others.shape)[keep], others[keep]


def _co_piece_sums(state: PlacementState, co_g: np.ndarray, co_j: np.ndarray, piece_ptr: np.ndarray,
                   pieces_c: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """[pieces]: for each piece (j, b), sum of f_g over the (g, j) pairs with count[g, b] = 1 (j alone of g on b)."""
    lengths = piece_ptr[co_j + 1] - piece_ptr[co_j]
    pair = np.repeat(np.arange(co_j.size), lengths)
    piece = piece_ptr[co_j][pair] + (np.arange(pair.size) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    g = co_g[pair]
    return np.bincount(piece, weights=fg[g] * (state.count[g, pieces_c[piece]] == 1), minlength=pieces_c.size)


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
