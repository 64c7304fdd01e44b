"""The online scheduler of one MoE layer (docs/dynamic.md): which experts to pre-broadcast, and where the
tokens of a broadcast expert run.

Priority (the paper's ``2 * P[i,c] * f_hat_i * IS / comp``): the compute time node n is expected to spend
on its share of expert i, ``prio[i, n] = P[i, n] * t_hat_i * F / comp`` with t_hat_i the predicted tokens
of i and F = FLOPs per token per expert (2*h*IS under ``paper``: the same order as the paper's formula,
which drops the constant h and B).

Rule ``paper``: repeatedly take the most loaded node (predicted), try its experts in decreasing priority
and pre-broadcast the first one that is admissible (window, memory) and lowers the predicted busiest
node; stop when the layer's budget is used or no expert of that node helps (then nothing can lower the
maximum). Rule ``marginal`` (a replication-budget rule): each round, the admissible expert whose
broadcast lowers the predicted maximum most.

Dispatch: a broadcast expert is held whole by every node, so each of its tokens runs, whole, on the node
that is least loaded at that moment (ties to the lowest node id); experts that are not broadcast keep
their static shares (every token of expert i gives P[i, n] of its work to node n). Broadcast experts are
dispatched after the static work, in the order they were chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from hdmoe_ray.core.errors import ConfigError

RULES = ("paper", "marginal")
MARGINAL_CANDIDATES = 16  # the marginal rule tries the most loaded experts only
_GAIN_EPS = 1e-12  # relative: a broadcast must lower the maximum by more than rounding


def dispatch_tokens(loads_s: np.ndarray, tokens: float, cost_per_token_s: float) -> np.ndarray:
    """float64 [D]: tokens each node receives when ``tokens`` tokens go one by one to the least-loaded node.

    Exactly the greedy "each token to the node with the least load so far, ties to the lowest id" (the
    chosen slots are the ``tokens`` smallest of {L_n + m*c : m >= 0}), computed by water-filling:
    the level lam with sum_n max(0, (lam - L_n)/c) = tokens gives floor((lam - L_n)/c) tokens per node,
    and the few left go to the lowest next slots L_n + x_n*c. A fractional remainder (predicted loads)
    goes to the next slot after those.
    """
    loads = np.asarray(loads_s, dtype=np.float64)
    if tokens < 0 or not np.isfinite(tokens):
        raise ConfigError("tokens", f"must be a finite count >= 0, got {tokens!r}")
    if cost_per_token_s <= 0:
        raise ConfigError("cost_per_token_s", f"must be > 0, got {cost_per_token_s!r}")
    out = np.zeros(loads.size)
    if tokens == 0:
        return out
    c = float(cost_per_token_s)
    order = np.argsort(loads, kind="stable")
    sorted_loads = loads[order]
    cumulative = np.cumsum(sorted_loads)
    m = np.arange(1, loads.size + 1)
    levels = (tokens * c + cumulative) / m  # level if the m least-loaded nodes share the work
    nxt = np.append(sorted_loads[1:], np.inf)
    active = int(np.argmax(levels <= nxt)) + 1  # first m whose level does not reach the next node
    lam = levels[active - 1]
    out[order[:active]] = np.floor(np.maximum(lam - sorted_loads[:active], 0.0) / c + 1e-9)
    left = tokens - out.sum()
    while left > 1e-9:  # fewer than D rounds: each takes the lowest next slot (ties: lowest node id)
        slot = loads + out * c
        node = int(np.lexsort((np.arange(loads.size), slot))[0])
        step = min(1.0, left)
        out[node] += step
        left -= step
    return out


def expert_priority(node_share: np.ndarray, tokens: np.ndarray, cost_per_token_s: float) -> np.ndarray:
    """float64 [E, D]: prio[i, n] = P[i, n] * tokens_i * F / comp (seconds node n spends on its share of i)."""
    return np.asarray(node_share, dtype=np.float64) * (np.asarray(tokens, dtype=np.float64) * cost_per_token_s)[:, None]


def dynamic_loads(node_share: np.ndarray, tokens: np.ndarray, replicated: Sequence[int],
                  cost_per_token_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(loads_s [D], placed tokens [len(replicated), D]) when ``replicated`` experts are broadcast.

    Static work first (every expert not replicated: P[i, n] * tokens_i * cost), then each replicated
    expert's tokens by :func:`dispatch_tokens`, in order.
    """
    share = np.asarray(node_share, dtype=np.float64)
    tokens = np.asarray(tokens, dtype=np.float64)
    static_tokens = tokens.copy()
    rep = list(replicated)
    static_tokens[rep] = 0.0
    loads = (static_tokens @ share) * cost_per_token_s
    placed = np.zeros((len(rep), share.shape[1]))
    for row, expert in enumerate(rep):
        placed[row] = dispatch_tokens(loads, float(tokens[expert]), cost_per_token_s)
        loads = loads + placed[row] * cost_per_token_s
    return loads, placed


def effective_share(node_share: np.ndarray, tokens: np.ndarray, replicated: Sequence[int],
                    placed: np.ndarray) -> np.ndarray:
    """float64 [E, D]: the share of each expert's tokens each node processes (static rows, or the
    dispatched tokens / tokens of a replicated expert); rows sum to 1 (the static row when no token)."""
    out = np.array(node_share, dtype=np.float64, copy=True)
    for row, expert in enumerate(replicated):
        total = float(tokens[expert])
        if total > 0:
            out[expert] = placed[row] / total
    return out


Admissible = Callable[[int, Sequence[int]], bool]


def plan_layer(node_share: np.ndarray, planned_tokens: np.ndarray, cost_per_token_s: float, limit: int, *,
               rule: str = "paper", admissible: Admissible | None = None) -> list[int]:
    """Experts to pre-broadcast (in broadcast order) for one layer, from the predicted ``planned_tokens`` [E].

    ``limit``: most experts; ``admissible(expert, chosen_so_far)``: False when the broadcast does not fit
    (window, memory). A broadcast is kept only if it lowers the predicted busiest node's load.
    """
    if rule not in RULES:
        raise ConfigError("strategy.dynamic.rule", f"must be one of {list(RULES)}, got {rule!r}")
    share = np.asarray(node_share, dtype=np.float64)
    tokens = np.maximum(np.asarray(planned_tokens, dtype=np.float64), 0.0)
    if share.ndim != 2 or tokens.shape != (share.shape[0],):
        raise ConfigError("planned_tokens", f"must have one entry per expert row of the share {share.shape}, "
                                            f"got shape {tokens.shape}")
    chosen: list[int] = []
    loads, _ = dynamic_loads(share, tokens, chosen, cost_per_token_s)
    while len(chosen) < limit:
        best, best_loads = None, None
        if rule == "paper":
            node = int(np.argmax(loads))
            prio = expert_priority(share, tokens, cost_per_token_s)[:, node]
            candidates = [int(i) for i in np.argsort(-prio, kind="stable") if prio[i] > 0 and i not in chosen]
        else:
            candidates = [int(i) for i in np.argsort(-tokens, kind="stable")[:MARGINAL_CANDIDATES]
                          if tokens[i] > 0 and i not in chosen]
        for expert in candidates:
            if admissible is not None and not admissible(expert, chosen):
                continue
            trial, _ = dynamic_loads(share, tokens, [*chosen, expert], cost_per_token_s)
            if trial.max() < loads.max() * (1.0 - _GAIN_EPS) and (best_loads is None or trial.max() < best_loads.max()):
                best, best_loads = expert, trial
                if rule == "paper":
                    break  # the paper takes the highest-priority expert that helps
        if best is None:
            break
        chosen.append(best)
        loads = best_loads
    return chosen
