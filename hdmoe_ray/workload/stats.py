"""Statistics of a routing trace, vectorised over tokens (definitions in docs/traces.md, "Statistics").

Per layer l with T tokens, top-k sets S_l(t) and E experts:
- ``expert_freq``: f_i = |{t : i in S_l(t)}| / T (docs/paper.md section 3; sums to k);
- ``group_tables`` / ``distinct_groups``: the exact sorted top-k sets g and f_g;
- ``coactivation``: C[i, j] = share of tokens choosing both i and j (C[i, i] = f_i);
- ``max_mean_load``: max_i f_i / mean_i f_i (mean f_i = k / E);
- ``temporal_reuse``: over consecutive windows of B tokens, the share of experts active in window b
  that are active again in window b + 1 (``active_experts``: mean experts active per window);
- ``window_drift``: how much the expert mix changes between consecutive windows of B tokens;
- ``cross_layer_predictability`` and its ``popularity_predictability`` baseline: how well layer l's
  experts predict layer l+1's (first half of the tokens trains, second half tests).
"""

from __future__ import annotations

import numpy as np

from hdmoe_ray.core.errors import ConfigError, TraceError
from hdmoe_ray.core.groups import GroupTable, group_table
from hdmoe_ray.core.trace import RoutingTrace


def expert_freq(trace: RoutingTrace) -> np.ndarray:
    """f_i per layer, float64 [L, E]; each row sums to top_k."""
    num_layers, num_tokens, _ = trace.expert_ids.shape
    flat = (np.arange(num_layers)[:, None, None] * trace.num_experts + trace.expert_ids).ravel()
    counts = np.bincount(flat, minlength=num_layers * trace.num_experts)
    return counts.reshape(num_layers, trace.num_experts) / num_tokens


def group_tables(trace: RoutingTrace) -> list[GroupTable]:
    """One GroupTable (groups g, f_g) per layer."""
    return [group_table(trace.expert_ids[layer], trace.num_experts) for layer in range(trace.num_layers)]


def distinct_groups(trace: RoutingTrace) -> np.ndarray:
    """Number of distinct top-k sets per layer, int64 [L]."""
    return np.array([table.num_groups for table in group_tables(trace)], dtype=np.int64)


def one_hot(expert_ids: np.ndarray, num_experts: int) -> np.ndarray:
    """bool [..., T, E] from [..., T, k] ids: True where the token chose the expert."""
    out = np.zeros((*expert_ids.shape[:-1], num_experts), dtype=bool)
    np.put_along_axis(out, expert_ids.astype(np.intp), True, axis=-1)
    return out


def coactivation(trace: RoutingTrace) -> np.ndarray:
    """C[l, i, j] = share of tokens whose layer-l top-k holds both i and j, float64 [L, E, E]."""
    num_layers, num_experts = trace.num_layers, trace.num_experts
    ids = trace.expert_ids.astype(np.int64)
    cells = (np.arange(num_layers)[:, None, None, None] * num_experts * num_experts
             + ids[:, :, :, None] * num_experts + ids[:, :, None, :])  # [L, T, k, k]: every (i, j) pair
    counts = np.bincount(cells.ravel(), minlength=num_layers * num_experts * num_experts)
    return counts.reshape(num_layers, num_experts, num_experts) / trace.num_tokens


def max_mean_load(trace: RoutingTrace) -> np.ndarray:
    """max_i f_i / mean_i f_i per layer, float64 [L] (1 = perfectly balanced)."""
    freq = expert_freq(trace)
    return freq.max(axis=1) / freq.mean(axis=1)


def _windows(trace: RoutingTrace, batch_size: int) -> np.ndarray:
    """int64 [L, W, B*k]: the ids of each window of ``batch_size`` consecutive tokens (tail dropped)."""
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
    windows = trace.num_tokens // batch_size
    if windows < 2:
        raise ConfigError("batch_size", f"{batch_size} leaves fewer than 2 windows in {trace.num_tokens} tokens")
    ids = trace.expert_ids[:, : windows * batch_size].astype(np.int64)
    return ids.reshape(trace.num_layers, windows, batch_size * trace.top_k)


def _windows_active(trace: RoutingTrace, batch_size: int) -> np.ndarray:
    """bool [L, W, E]: expert active in window w of ``batch_size`` consecutive tokens."""
    return one_hot(_windows(trace, batch_size), trace.num_experts)


def temporal_reuse(trace: RoutingTrace, batch_size: int) -> np.ndarray:
    """Per layer, sum_b |A_b & A_{b+1}| / sum_b |A_b| over consecutive windows of B tokens, float64 [L].

    A_b is the set of experts active in tokens [b*B, (b+1)*B); the incomplete last window is dropped.
    1 means the next batch needs no expert the current one did not use.
    """
    active = _windows_active(trace, batch_size)
    kept = (active[:, :-1] & active[:, 1:]).sum(axis=(1, 2))
    return kept / active[:, :-1].sum(axis=(1, 2))


def active_experts(trace: RoutingTrace, batch_size: int) -> np.ndarray:
    """Mean number of distinct experts a window of B consecutive tokens activates, per layer [L]."""
    return _windows_active(trace, batch_size).sum(axis=2).mean(axis=1)


def window_drift(trace: RoutingTrace, batch_size: int) -> np.ndarray:
    """Per layer, mean total-variation distance between the expert mix of consecutive B-token windows.

    With p_b = f(window b) / k (a distribution over experts), TV_b = 0.5 * sum_i |p_{b+1,i} - p_{b,i}|,
    in [0, 1]; float64 [L]. Sampling noise alone gives a floor that shrinks as B grows.
    """
    ids = _windows(trace, batch_size)
    windows = ids.shape[1]
    cells = np.arange(trace.num_layers * windows).reshape(trace.num_layers, windows, 1) * trace.num_experts + ids
    counts = np.bincount(cells.ravel(), minlength=trace.num_layers * windows * trace.num_experts)
    mix = counts.reshape(trace.num_layers, windows, trace.num_experts) / (batch_size * trace.top_k)
    return 0.5 * np.abs(np.diff(mix, axis=1)).sum(axis=2).mean(axis=1)


def _halves(trace: RoutingTrace, train_fraction: float) -> int:
    if trace.num_layers < 2:
        raise TraceError("cross-layer statistics need at least 2 layers", path=trace.source_path)
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError("train_fraction", f"must lie in (0, 1), got {train_fraction!r}")
    split = round(trace.num_tokens * train_fraction)
    if not 0 < split < trace.num_tokens:
        raise TraceError(f"{trace.num_tokens} tokens cannot be split into train and test", path=trace.source_path)
    return split


def _hit_rate(predicted: np.ndarray, truth_hot: np.ndarray, top_k: int) -> float:
    """Mean over tokens of |predicted set & true set| / k; predicted int [T, k], truth bool [T, E]."""
    return float(np.take_along_axis(truth_hot, predicted, axis=1).sum() / (truth_hot.shape[0] * top_k))


def cross_layer_predictability(trace: RoutingTrace, *, train_fraction: float = 0.5) -> np.ndarray:
    """Accuracy of predicting layer l+1's top-k from layer l's, float64 [L-1] (entry l: layers l -> l+1).

    Train on the first ``train_fraction`` of the tokens: N[i, j] = tokens with i in S_l and j in S_{l+1}.
    For each test token, score_j = sum_{i in S_l(t)} N[i, j]; the prediction is the k best-scored
    experts (ties to the lower id); accuracy = mean |prediction & S_{l+1}(t)| / k.
    """
    split = _halves(trace, train_fraction)
    num_experts, top_k = trace.num_experts, trace.top_k
    ids = trace.expert_ids.astype(np.int64)
    tie_break = num_experts - 1 - np.arange(num_experts)  # lower id wins a tie
    out = np.empty(trace.num_layers - 1)
    for layer in range(trace.num_layers - 1):  # integer counting (no BLAS), memory O(T * E)
        now, nxt = ids[layer], ids[layer + 1]
        pairs = (now[:split, :, None] * num_experts + nxt[:split, None, :]).ravel()
        counts = np.bincount(pairs, minlength=num_experts * num_experts).reshape(num_experts, num_experts)
        key = counts[now[split:]].sum(axis=1) * num_experts + tie_break  # [T_test, E], unique per row
        predicted = np.argpartition(-key, top_k - 1, axis=1)[:, :top_k]
        out[layer] = _hit_rate(predicted, one_hot(nxt[split:], num_experts), top_k)
    return out


def popularity_predictability(trace: RoutingTrace, *, train_fraction: float = 0.5) -> np.ndarray:
    """Baseline of the above: predict layer l+1's k most frequent training experts for every token, [L-1]."""
    split = _halves(trace, train_fraction)
    hot = one_hot(trace.expert_ids[1:], trace.num_experts)  # layers 1..L-1
    popular = np.argsort(-hot[:, :split].sum(axis=1), axis=1, kind="stable")[:, : trace.top_k]  # [L-1, k]
    test = hot[:, split:]
    hits = np.take_along_axis(test, np.broadcast_to(popular[:, None, :], (*test.shape[:2], trace.top_k)), axis=2)
    return hits.sum(axis=(1, 2)) / (test.shape[1] * trace.top_k)


def sample_batches(num_tokens: int, batch_size: int, num_batches: int, rng: np.random.Generator) -> np.ndarray:
    """Token indices of ``num_batches`` batches, int64 [num_batches, batch_size].

    Each batch is a contiguous window of ``batch_size`` consecutive tokens starting at a uniform random
    offset in [0, num_tokens - batch_size] (windows may overlap). Contiguous windows keep the trace's
    temporal locality (nearby tokens route alike), which a shuffle would destroy.
    """
    if batch_size <= 0 or num_batches <= 0:
        raise ConfigError("workload.batch_size", f"batch_size={batch_size} and num_batches={num_batches} "
                          "must be positive")
    if batch_size > num_tokens:
        raise ConfigError("workload.batch_size", f"batch of {batch_size} tokens exceeds the trace's {num_tokens}")
    starts = rng.integers(0, num_tokens - batch_size + 1, size=num_batches)
    return starts[:, None] + np.arange(batch_size, dtype=np.int64)[None, :]
