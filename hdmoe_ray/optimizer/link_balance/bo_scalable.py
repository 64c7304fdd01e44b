"""``gp_swap`` on large meshes (16x16, 32x32): the same GP on congestion features, a search that scales.

The dense ``gp_swap`` (:mod:`~hdmoe_ray.optimizer.link_balance.bo_methods`) scores ~300 permutations per
round with a [D^2, L] route incidence: 36 ms a permutation and 250 MB at 16x16, 16 GB at 32x32. Here:

- features: :class:`~hdmoe_ray.optimizer.link_balance.sparse_traffic.PairTraffic` (sparse cluster pairs;
  swap neighbours scored incrementally, re-routing only the pairs of the two swapped clusters);
- candidates: swaps of the best evaluated placement, in its **congested region**: one cluster drawn in
  proportion to the bytes it sends or receives over the ``hot_links`` most loaded links (the bottleneck the
  flow time is made of), the other uniformly (``region=False``: both uniformly, the ablation); a few random
  permutations; then ``climb_steps`` of hill climbing on LogEI from the ``climb_starts`` best candidates;
- selection: the best unseen candidate by LogEI, or with ``batch_size`` q > 1 the q best greedily by qLogEI
  with the earlier picks pending, evaluated together through ``map_fn``.

Each round draws from ``rng`` before anything is evaluated, so results do not depend on how a batch is
evaluated (in-process, threads or Ray tasks).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.gpbo.surrogate import GPSurrogate, limit_threads
from hdmoe_ray.optimizer.link_balance.sparse_traffic import PairTraffic


def gp_swap_scalable(ev, rng: np.random.Generator, traffic: PairTraffic, *, batch_size: int = 1, map_fn=None,
                     region: bool = True, num_random: int = 2, num_swaps: int = 128, hot_links: int = 16,
                     climb_starts: int = 2, climb_steps: int = 3, climb_sample: int = 32, fit_steps_first: int = 30,
                     fit_steps: int = 6, refit_every: int = 6) -> dict:
    """Run the scalable ``gp_swap`` until the evaluator's budget is spent (see the module docstring)."""
    from hdmoe_ray.optimizer.link_balance.bo_methods import _scale, _steps

    limit_threads(1)
    c = traffic.num_clusters
    perms = [np.frombuffer(k, dtype=np.int64).copy() for k in ev.cache]
    ys = list(ev.values)
    feats = list(traffic.features(np.asarray(perms)))
    feat_ref = np.asarray(feats).mean(axis=0)
    feat_ref[feat_ref <= 0] = 1.0
    gp, rounds, moved = GPSurrogate(seed=0), 0, 0
    while ev.left > 0:
        x = np.asarray(feats) / feat_ref
        score, _ = _scale(np.asarray(ys))
        gp.fit(x, score, steps=_steps(gp.model, rounds, fit_steps_first, fit_steps, refit_every))
        acq_fn = gp.acquisition(float(score.max()))
        base = perms[int(np.argmax(score))]
        base_loads = traffic.loads(base)
        weights = traffic.hot_clusters(base, hot_links, base_loads) if region else None
        cand_p, cand_f = [], []
        sa, sb = _draw_swaps(rng, c, num_swaps, weights)
        cand_p.append(_swapped(base, sa, sb))
        cand_f.append(traffic.swap_features(base, sa, sb, base_loads))
        if num_random:
            rand = np.asarray([rng.permutation(c) for _ in range(num_random)])
            cand_p.append(rand)
            cand_f.append(traffic.features(rand))
        acq = acq_fn(np.vstack(cand_f) / feat_ref)
        seen = np.array([ev.seen(p) for p in np.vstack(cand_p)])
        acq_all = [np.where(seen, -np.inf, acq)]
        for i in np.argsort(-acq_all[0], kind="stable")[:climb_starts]:
            cur, cur_acq = np.vstack(cand_p)[i], float(acq_all[0][i])
            # loads of the start: one swap away from the base's, or (a random start) walked in full
            cur_loads = traffic.swap_loads(base, base_loads, sa[i], sb[i]) if i < sa.size else traffic.loads(cur)
            for _ in range(climb_steps):
                a, b = _draw_swaps(rng, c, climb_sample, weights)
                nb, nb_f = _swapped(cur, a, b), traffic.swap_features(cur, a, b, cur_loads)
                nb_acq = acq_fn(nb_f / feat_ref)
                nb_acq = np.where([ev.seen(p) for p in nb], -np.inf, nb_acq)
                cand_p.append(nb)
                cand_f.append(nb_f)
                acq_all.append(nb_acq)
                j = int(np.argmax(nb_acq))
                if not nb_acq[j] > cur_acq:
                    break
                cur_loads = traffic.swap_loads(cur, cur_loads, a[j], b[j])
                cur, cur_acq = nb[j], float(nb_acq[j])
                moved += 1
        q = min(batch_size, ev.left)
        for _ in range(q - 1):  # chained batch: swaps of the previous pick join the pool of the next one
            k = int(np.argmax(np.concatenate(acq_all)))
            prev = np.vstack(cand_p)[k] if np.isfinite(np.concatenate(acq_all)[k]) else base
            a, b = _draw_swaps(rng, c, max(num_swaps // 2, 1), weights)
            nb, nb_f = _swapped(prev, a, b), traffic.swap_features(prev, a, b)
            cand_p.append(nb)
            cand_f.append(nb_f)
            acq_all.append(np.where([ev.seen(p) for p in nb], -np.inf, acq_fn(nb_f / feat_ref)))
        pool_p, pool_f, pool_a = np.vstack(cand_p), np.vstack(cand_f), np.concatenate(acq_all)
        chosen = _pick(ev, gp, pool_p, pool_f / feat_ref, pool_a, float(score.max()), q, rng, c, seed=rounds)
        ev.evaluate_batch(chosen, map_fn)
        perms.extend(chosen)
        feats.extend(traffic.features(np.asarray(chosen)))
        ys.extend(ev.cache[p.tobytes()] for p in chosen)
        rounds += 1
    return {"bo_rounds": rounds, "climb_moves": moved, "region": region}


def first_occurrences(perms: np.ndarray) -> np.ndarray:
    """bool [N]: True at the first row of every distinct permutation."""
    seen: set[bytes] = set()
    out = np.zeros(len(perms), dtype=bool)
    for i, p in enumerate(np.ascontiguousarray(perms)):
        key = p.tobytes()
        if key not in seen:
            seen.add(key)
            out[i] = True
    return out


def _draw_swaps(rng: np.random.Generator, c: int, n: int, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """n swaps (a, b), a != b: a from the congested region (``weights``) or uniform, b uniform."""
    if weights is not None and weights.sum() > 0:
        a = rng.choice(c, size=n, p=weights / weights.sum())
    else:
        a = rng.integers(0, c, size=n)
    b = (a + 1 + rng.integers(0, c - 1, size=n)) % c
    return a.astype(np.int64), b.astype(np.int64)


def _swapped(perm: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, C]: ``perm`` with clusters a[t] and b[t] exchanging nodes."""
    out = np.repeat(perm[None, :], a.size, axis=0)
    rows = np.arange(a.size)
    out[rows, a], out[rows, b] = perm[b], perm[a]
    return out


def _pick(ev, gp, perms: np.ndarray, x: np.ndarray, acq: np.ndarray, best_f: float, q: int, rng, c: int, *,
          seed: int) -> list[np.ndarray]:
    """The q permutations to evaluate: distinct, unseen, best by LogEI then qLogEI; random ones if too few."""
    eligible = first_occurrences(perms) & np.isfinite(acq)
    if q == 1:
        picks = [int(np.argmax(np.where(eligible, acq, -np.inf)))] if eligible.any() else []
    else:
        picks = gp.greedy_batch(x, best_f, q, acq=acq, eligible=eligible, seed=seed)
    chosen = [np.asarray(perms[i], dtype=np.int64) for i in picks]
    keys = {p.tobytes() for p in chosen}
    while len(chosen) < q:
        p = rng.permutation(c).astype(np.int64)
        if not ev.seen(p) and p.tobytes() not in keys:
            keys.add(p.tobytes())
            chosen.append(p)
    return chosen
