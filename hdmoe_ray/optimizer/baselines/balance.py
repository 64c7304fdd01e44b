"""Count-constrained load balancing of experts onto bins (EP nodes, hybrid regions).

Every bin takes ``E // K`` experts and the first-come ``E % K`` bins one more, so expert counts (and
weight bytes) differ by at most one; within that, the largest bin load sum f_i is kept small:

- :func:`greedy_assignment`: experts in decreasing f_i (ties: lower id first) go to the least-loaded
  bin that still has room (largest-processing-time-first, LPT);
- :func:`improve_by_swaps`: repeatedly swap one expert of the most loaded bin with one expert of another
  bin when that lowers the larger of the two loads (counts unchanged), until no swap helps.
"""

from __future__ import annotations

import numpy as np

MAX_SWAPS = 10_000
_TOL = 1e-12


def split_counts(total: int, parts: int) -> np.ndarray:
    """int64 [parts]: ``total`` split as evenly as possible, the first ``total % parts`` one larger."""
    out = np.full(parts, total // parts, dtype=np.int64)
    out[: total % parts] += 1
    return out


def bin_loads(assignment: np.ndarray, weights: np.ndarray, num_bins: int) -> np.ndarray:
    """float64 [K]: sum of weights per bin."""
    return np.bincount(assignment, weights=weights, minlength=num_bins)


def greedy_assignment(weights: np.ndarray, num_bins: int) -> np.ndarray:
    """int64 [E]: bin of every expert by LPT under the count constraint (module docstring)."""
    weights = np.asarray(weights, dtype=np.float64)
    e = weights.size
    base, extra = divmod(e, num_bins)
    load = np.zeros(num_bins)
    count = np.zeros(num_bins, dtype=np.int64)
    out = np.empty(e, dtype=np.int64)
    for i in np.argsort(-weights, kind="stable"):  # E steps of O(K) array work: LPT is sequential
        at_ceil = int(np.count_nonzero(count > base))
        room = (count < base) | ((count == base) & (at_ceil < extra))
        b = int(np.flatnonzero(room)[np.argmin(load[room])])
        out[i] = b
        load[b] += weights[i]
        count[b] += 1
    return out


def improve_by_swaps(weights: np.ndarray, assignment: np.ndarray, num_bins: int) -> np.ndarray:
    """int64 [E]: ``assignment`` after best-improvement pair swaps out of the most loaded bin."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.array(assignment, dtype=np.int64, copy=True)
    for _ in range(MAX_SWAPS):
        load = bin_loads(out, weights, num_bins)
        top = int(np.argmax(load))
        inside = np.flatnonzero(out == top)
        outside = np.flatnonzero(out != top)
        if inside.size == 0 or outside.size == 0:
            break
        moved = weights[inside][:, None] - weights[outside][None, :]  # load leaving the top bin
        pair_max = np.maximum(load[top] - moved, load[out[outside]][None, :] + moved)
        k = np.unravel_index(np.argmin(pair_max), pair_max.shape)
        if pair_max[k] >= load[top] - _TOL:
            break
        i, j = inside[k[0]], outside[k[1]]
        out[i], out[j] = out[j], out[i]
    return out
