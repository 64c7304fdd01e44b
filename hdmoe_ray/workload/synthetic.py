"""A seeded synthetic routing generator for models without a real trace (docs/traces.md, "Synthetic").

For layer l, token t and expert i the router logit is

    logit[l, t, i] = -s_l * log(1 + rank_l[i])          Zipf popularity, a random expert order per layer
                     + beta * (z[l, t] @ W_l)[i]         token topic -> co-activation
                     + D[l, batch(t), i]                 per-batch popularity offset (drift)

and the token's top-k experts are a Gumbel-top-k draw, i.e. k draws without replacement from
softmax(logit) (top-k of logit + Gumbel noise). Gate weights are the softmax probabilities of the chosen
experts (un-normalised, as DeepSeek-V2-Lite's router). The pieces and their knobs
(``SyntheticTraceConfig``):

- ``zipf_exponent`` s: popularity skew; each layer scales it by exp(N(0, LAYER_SKEW_SPREAD^2)), as real
  layers differ in skew.
- ``coactivation_strength`` c: beta = TOPIC_SCALE_MAX * c. The topic z is TOPIC_DIM-dimensional; tokens
  with close topics pick the same experts, so groups repeat and experts co-activate.
- ``cross_layer_correlation`` rho: z[l+1] = rho * z[l] + sqrt(1 - rho^2) * fresh noise (AR(1) over
  layers), so layer l's experts predict layer l+1's.
- ``token_correlation`` phi: every topic noise is AR(1) over consecutive tokens (text is local: adjacent
  tokens route alike).
- ``drift_per_batch`` delta and ``batch_tokens``: D[l, b] = (1 - DRIFT_REVERSION) * D[l, b-1]
  + delta * N(0, 1) per expert, started stationary; tokens of one batch share it.
All vectorised over tokens and experts (one Python iteration per layer); every draw comes from the one
generator, so a seed fixes the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.core.trace import RoutingTrace

if TYPE_CHECKING:
    from hdmoe_ray.config.schemas import SyntheticTraceConfig

FORMAT = "synthetic"
TOPIC_DIM = 4  # few topic dimensions -> few distinct top-k sets, as in real traces
TOPIC_SCALE_MAX = 12.0  # logit scale of the topic term at coactivation_strength = 1
LAYER_SKEW_SPREAD = 0.3  # std of log(per-layer Zipf exponent / zipf_exponent)
DRIFT_REVERSION = 0.5  # share of the per-batch offset that decays each batch (0: random walk)


def ar1(noise: np.ndarray, coef: float) -> np.ndarray:
    """AR(1) along axis 0 with unit stationary variance: y[0] = x[0], y[t] = c*y[t-1] + sqrt(1-c^2)*x[t].

    A log-depth scan (no loop over t): after step j, y[t] = sum_{i < 2^j} c^i b[t-i], with b the scaled
    noise; each step doubles the window with y[t] += c^(2^j) * y[t - 2^j]. Only powers c^i <= 1 appear.
    """
    gain = np.sqrt(max(0.0, 1.0 - coef * coef))
    out = np.array(noise, dtype=np.float64) * gain
    out[0] = noise[0]
    power, shift = float(coef), 1
    while shift < out.shape[0] and power != 0.0:
        out[shift:] = out[shift:] + power * out[:-shift]  # right side is built from the old values
        power, shift = power * power, shift * 2
    return out


def _rng(rng_or_seed: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng(rng_or_seed)


def _check(num_experts: int, top_k: int, num_layers: int, layer_ids: Sequence[int] | None) -> None:
    for field, value in (("num_experts", num_experts), ("top_k", top_k), ("num_layers", num_layers)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ConfigError(f"model.{field}", f"must be a positive integer, got {value!r}")
    if top_k > num_experts:
        raise ConfigError("model.top_k", f"top_k={top_k} exceeds num_experts={num_experts}")
    if layer_ids is not None and len(layer_ids) != num_layers:
        raise ConfigError("layer_ids", f"{len(layer_ids)} layer ids for {num_layers} layers")


def _layer_logits(rng: np.random.Generator, topic: np.ndarray, batch_of_token: np.ndarray, num_batches: int,
                  num_experts: int, cfg: SyntheticTraceConfig) -> np.ndarray:
    """float32 [tokens, E] logits of one layer (popularity + topic + drift), from fresh layer draws."""
    skew = cfg.zipf_exponent * np.exp(LAYER_SKEW_SPREAD * rng.standard_normal())
    rank = rng.permutation(num_experts)
    popularity = -skew * np.log1p(rank)
    embed = rng.standard_normal((TOPIC_DIM, num_experts)) / np.sqrt(TOPIC_DIM)
    keep = 1.0 - DRIFT_REVERSION
    drift = (cfg.drift_per_batch / np.sqrt(1.0 - keep * keep)) * ar1(
        rng.standard_normal((num_batches, num_experts)), keep)
    beta = TOPIC_SCALE_MAX * cfg.coactivation_strength
    return (popularity + beta * (topic @ embed) + drift[batch_of_token]).astype(np.float32)


def generate_synthetic_trace(num_experts: int, top_k: int, num_layers: int, cfg: SyntheticTraceConfig,
                             rng_or_seed: np.random.Generator | int, *, layer_ids: Sequence[int] | None = None,
                             name: str = "synthetic") -> RoutingTrace:
    """A synthetic trace of ``cfg.num_tokens`` tokens (model above; defaults calibrated in docs/traces.md).

    Args:
        num_experts, top_k, num_layers: E, k and the number of MoE layers.
        cfg: the generator's knobs.
        rng_or_seed: a ``np.random.Generator`` (consumed) or a seed.
        layer_ids: the model's ids of the layers (default 0..num_layers-1).
        name: the trace's label.
    """
    _check(num_experts, top_k, num_layers, layer_ids)
    rng = _rng(rng_or_seed)
    num_tokens = cfg.num_tokens
    phi = float(cfg.token_correlation)
    rho = cfg.cross_layer_correlation
    batch_of_token = np.arange(num_tokens) // cfg.batch_tokens
    num_batches = int(batch_of_token[-1]) + 1
    ids = np.empty((num_layers, num_tokens, top_k), dtype=np.int16)
    gates = np.empty((num_layers, num_tokens, top_k), dtype=np.float32)
    topic = ar1(rng.standard_normal((num_tokens, TOPIC_DIM)), phi)
    rows = np.arange(num_tokens)[:, None]
    for layer in range(num_layers):
        if layer > 0:
            topic = rho * topic + np.sqrt(1.0 - rho * rho) * ar1(rng.standard_normal((num_tokens, TOPIC_DIM)), phi)
        logits = _layer_logits(rng, topic, batch_of_token, num_batches, num_experts, cfg)
        score = logits + rng.gumbel(size=logits.shape).astype(np.float32)
        chosen = np.argpartition(-score, top_k - 1, axis=1)[:, :top_k]
        chosen = np.take_along_axis(chosen, np.argsort(-score[rows, chosen], axis=1), axis=1)  # router order
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        ids[layer] = chosen
        gates[layer] = probs[rows, chosen]
    knobs = {key: float(getattr(cfg, key)) for key in ("zipf_exponent", "coactivation_strength",
                                                        "cross_layer_correlation", "drift_per_batch")}
    knobs.update(token_correlation=phi, batch_tokens=int(cfg.batch_tokens), num_tokens=int(num_tokens))
    if not isinstance(rng_or_seed, np.random.Generator):
        knobs["seed"] = int(rng_or_seed)
    return RoutingTrace(name=name, num_experts=int(num_experts), expert_ids=ids, gate_weights=gates,
                        layer_ids=tuple(int(i) for i in (layer_ids if layer_ids is not None else range(num_layers))),
                        batch_offsets=np.arange(0, num_tokens, cfg.batch_tokens, dtype=np.int64),
                        source_format=FORMAT, source_path=None, metadata={"synthetic": knobs})
