"""The two GP-BO methods of LinkBalance, on the shared GP core (:mod:`~hdmoe_ray.gpbo.surrogate`).

``gp_hungarian`` (the paper's): the GP models cost over 2C real coordinates; each round scores random
and perturbed-best coordinate vectors by LogEI and evaluates the best one whose Hungarian snap is a
permutation not seen yet.

``gp_swap``: the GP models cost over the permutation's congestion features
(:meth:`~hdmoe_ray.optimizer.link_balance.encoding.ClusterTraffic.features`, 5 numbers); each round scores random
permutations and every swap neighbour of the best evaluated ones, then climbs by best-LogEI swaps from
the top candidates, and evaluates the best permutation not seen yet.

Both reuse hyperparameters between rounds: a full fit first, then a few warm-started Adam steps every
``refit_every`` rounds; in between the GP only conditions on the new points.
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.gpbo.surrogate import GPSurrogate, limit_threads
from hdmoe_ray.hardware.mesh import Mesh
from hdmoe_ray.optimizer.link_balance.encoding import (
    ClusterTraffic,
    permutation_points,
    snap_to_permutation,
    swap_neighbours,
)


def _scale(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Costs rescaled for the GP (it maximises): -(v / median)."""
    ref = float(np.median(values)) or 1.0
    return -np.asarray(values) / ref, ref


def gp_hungarian(ev, rng: np.random.Generator, mesh: Mesh, *, num_candidates: int = 1024, num_local: int = 1024,
                 local_sigma: float = 0.08, fit_steps_first: int = 40, fit_steps: int = 8, refit_every: int = 5,
                 max_snaps: int = 64, batch_size: int = 1, map_fn=None) -> dict:
    """Paper encoding: GP on coordinates [2C], candidates snapped by the Hungarian algorithm.

    ``batch_size`` q > 1: per round the best unseen snap, then q - 1 more chosen by qLogEI with the
    earlier ones pending among the next unseen, distinct snaps; evaluated together through ``map_fn``."""
    limit_threads(1)
    c = mesh.num_nodes
    xs = [permutation_points(p, mesh) for p in _evaluated(ev)]
    ys = list(ev.values)
    gp, rounds, dup = GPSurrogate(seed=0), 0, 0
    while ev.left > 0:
        x = np.asarray(xs)
        score, _ = _scale(np.asarray(ys))
        gp.fit(x, score, steps=_steps(gp.model, rounds, fit_steps_first, fit_steps, refit_every))
        top = x[np.argsort(-score)[:5]]
        local = top[rng.integers(len(top), size=num_local)] + local_sigma * rng.standard_normal((num_local, 2 * c))
        cand = np.vstack([rng.random((num_candidates, 2 * c)), np.clip(local, 0.0, 1.0)])
        acq = gp.acquisition(float(score.max()))(cand)
        if batch_size > 1:
            got = _hungarian_batch(ev, gp, cand, acq, mesh, float(score.max()), min(batch_size, ev.left), max_snaps,
                                   seed=rounds, map_fn=map_fn)
            if got:
                xs.extend(got[0])
                ys.extend(got[1])
                rounds += 1
                continue
        chosen = None
        for k in np.argsort(-acq)[:max_snaps]:
            perm = snap_to_permutation(cand[k].reshape(c, 2), mesh)
            if not ev.seen(perm):
                chosen = (cand[k], perm)
                break
        if chosen is None:  # every top candidate snaps to a seen permutation: learn from it, try again
            dup += 1
            k = int(np.argmax(acq))
            perm = snap_to_permutation(cand[k].reshape(c, 2), mesh)
            xs.append(cand[k])
            ys.append(ev(perm))
            if dup > 20:
                perm = rng.permutation(c)
                xs.append(permutation_points(perm, mesh))
                ys.append(ev(perm))
            continue
        xs.append(chosen[0])
        ys.append(ev(chosen[1]))
        rounds += 1
    return {"bo_rounds": rounds, "duplicate_snaps": dup}


def gp_swap(ev, rng: np.random.Generator, traffic: ClusterTraffic, *, num_random: int = 32, num_neighbours: int = 128,
            climb_starts: int = 1, climb_steps: int = 2, climb_sample: int = 64, fit_steps_first: int = 30,
            fit_steps: int = 6, refit_every: int = 6, batch_size: int = 1, map_fn=None) -> dict:
    """Traffic encoding: GP on congestion features, acquisition maximised over swap moves.

    Candidates per round: ``num_random`` random permutations and ``num_neighbours`` random swap neighbours
    of the best evaluated one; then ``climb_steps`` rounds of hill climbing on LogEI from the
    ``climb_starts`` best candidates, each step scoring ``climb_sample`` random swaps. The best unseen
    permutation is evaluated. (~300 feature evaluations per round: with the GP fits, the main cost.)
    ``batch_size`` q > 1: the q best of every permutation scored in the round, greedily by qLogEI with the
    earlier picks pending (:meth:`~hdmoe_ray.gpbo.surrogate.GPSurrogate.greedy_batch`), evaluated together.
    """
    limit_threads(1)
    c = traffic.mesh.num_nodes
    perms = [p for p in _evaluated(ev)]
    ys = list(ev.values)
    feat_ref = traffic.features(np.asarray(perms)).mean(axis=0)
    feat_ref[feat_ref <= 0] = 1.0

    def encode(ps: np.ndarray) -> np.ndarray:
        return traffic.features(ps) / feat_ref

    xs = list(encode(np.asarray(perms)))
    iu, ju = np.triu_indices(c, k=1)
    gp, rounds = GPSurrogate(seed=0), 0
    while ev.left > 0:
        x = np.asarray(xs)
        score, _ = _scale(np.asarray(ys))
        gp.fit(x, score, steps=_steps(gp.model, rounds, fit_steps_first, fit_steps, refit_every))
        acq_fn = gp.acquisition(float(score.max()))
        near = swap_neighbours(perms[int(np.argmax(score))])
        near = near[rng.choice(len(near), size=min(num_neighbours, len(near)), replace=False)]
        pool = np.vstack([np.asarray([rng.permutation(c) for _ in range(num_random)]), near])
        pool_x = encode(pool)
        acq = acq_fn(pool_x)
        scored = [(pool, pool_x, acq)]
        fresh = np.array([not ev.seen(p) for p in pool])
        acq_fresh = np.where(fresh, acq, -np.inf)
        k = int(np.argmax(acq_fresh))
        best_perm, best_acq = (pool[k], float(acq_fresh[k])) if np.isfinite(acq_fresh[k]) else (None, -np.inf)
        for start in pool[np.argsort(-acq)[:climb_starts]]:
            cur = start
            for _ in range(climb_steps):
                pick = rng.choice(iu.size, size=min(climb_sample, iu.size), replace=False)
                nb = np.repeat(cur[None, :], pick.size, axis=0)
                rows = np.arange(pick.size)
                nb[rows, iu[pick]], nb[rows, ju[pick]] = cur[ju[pick]], cur[iu[pick]]
                nb_x = encode(nb)
                a = acq_fn(nb_x)
                a = np.where([not ev.seen(p) for p in nb], a, -np.inf)
                scored.append((nb, nb_x, a))
                j = int(np.argmax(a))
                if a[j] <= best_acq:
                    break
                best_perm, best_acq, cur = nb[j], float(a[j]), nb[j]
        if batch_size > 1:
            got = _swap_batch(ev, gp, scored, float(score.max()), min(batch_size, ev.left), rng, c, seed=rounds,
                              map_fn=map_fn)
            perms.extend(got)
            xs.extend(encode(np.asarray(got)))
            ys.extend(ev.cache[p.tobytes()] for p in got)
            rounds += 1
            continue
        if best_perm is None:
            best_perm = rng.permutation(c)
        perms.append(np.asarray(best_perm))
        xs.append(encode(best_perm[None, :])[0])
        ys.append(ev(best_perm))
        rounds += 1
    return {"bo_rounds": rounds}


def _swap_batch(ev, gp, scored, best_f: float, q: int, rng, c: int, *, seed: int, map_fn) -> list[np.ndarray]:
    """Pick q distinct unseen permutations among everything scored this round (:func:`gp_swap` with q > 1),
    topped up with random ones if too few, and evaluate them together."""
    perms = np.vstack([s[0] for s in scored])
    xs = np.vstack([s[1] for s in scored])
    acq = np.concatenate([s[2] for s in scored])
    from hdmoe_ray.optimizer.link_balance.bo_scalable import first_occurrences

    eligible = first_occurrences(perms) & np.array([not ev.seen(p) for p in perms]) & np.isfinite(acq)
    chosen = [perms[i] for i in gp.greedy_batch(xs, best_f, q, acq=acq, eligible=eligible, seed=seed)]
    keys = {p.tobytes() for p in chosen}
    while len(chosen) < q:
        p = rng.permutation(c)
        if not ev.seen(p) and p.tobytes() not in keys:
            keys.add(p.tobytes())
            chosen.append(p)
    ev.evaluate_batch(chosen, map_fn)
    return [np.asarray(p, dtype=np.int64) for p in chosen]


def _hungarian_batch(ev, gp, cand: np.ndarray, acq: np.ndarray, mesh: Mesh, best_f: float, q: int, max_snaps: int,
                     *, seed: int, map_fn) -> tuple[list, list] | None:
    """:func:`gp_hungarian` with q > 1: the top candidates whose snaps are unseen and distinct (up to 4q),
    q of them picked greedily by qLogEI, evaluated together; None when no top candidate snaps to a new one."""
    c = mesh.num_nodes
    short, snaps, keys = [], [], set()
    for k in np.argsort(-acq)[:max_snaps]:
        perm = snap_to_permutation(cand[k].reshape(c, 2), mesh)
        if not ev.seen(perm) and perm.tobytes() not in keys:
            keys.add(perm.tobytes())
            short.append(int(k))
            snaps.append(perm)
            if len(short) >= 4 * q:
                break
    if not short:
        return None
    picks = gp.greedy_batch(cand[short], best_f, q, acq=acq[short], seed=seed)
    values = ev.evaluate_batch([snaps[i] for i in picks], map_fn)
    return [cand[short[i]] for i in picks], values


def _steps(model, rounds: int, first: int, later: int, every: int) -> int:
    """Adam steps this round: a full fit first, then a short warm-started refit every ``every`` rounds
    (between them the GP keeps its hyperparameters and only conditions on the new points)."""
    if model is None:
        return first
    return later if rounds % every == 0 else 0


def _evaluated(ev) -> list[np.ndarray]:
    """Permutations evaluated so far, in evaluation order (the evaluator's cache keeps insertion order)."""
    return [np.frombuffer(k, dtype=np.int64).copy() for k in ev.cache]
