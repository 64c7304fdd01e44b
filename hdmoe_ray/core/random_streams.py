"""Named random streams: every random draw of the project comes from one of these, seeded by the config.

A stream is ``numpy.random.default_rng([seed, STREAM, *extra])``: the config's ``seed``, the stream's
number below and, where one purpose draws per item, the item (for example the layer id). Two purposes
never share a number, so their draws are independent (a shared stream would silently correlate, say,
the sampled batches with the EP placement). A test checks that the numbers are distinct.

| stream | number | what it draws |
|---|---|---|
| ``EP_PLACEMENT`` | 1 | EP's random expert -> cluster slots and cluster -> node permutations |
| ``SAMPLED_BATCHES`` | 2 | offsets of the sampled decode batches (``workload.mode=sampled``) |
| ``AGGREGATOR`` | 3 | per-expert salts of the ``random_member_lowest_node`` aggregator rule (per layer) |
| ``GAMMA_CALIBRATION`` | 7 | the random placements gamma (eq. 3) is fitted on |
| ``NODE_BALANCE`` | 11 | NodeBalance's heuristic (per layer) |
| ``LINK_BALANCE`` | 12 | LinkBalance's initial points and candidates (per layer) |
| ``DYNAMIC_PLACEMENT`` | 13 | dynamic placement: the bayesian predictor's weights, batch order and MC-dropout masks |

The synthetic trace generator takes its seed directly (``workload.seed``, a trace is its own stream),
and the GP-BO core its ``GPBOConfig.seed``.

Per-layer optimiser streams keep the historical order ``[seed, layer, STREAM]`` so saved mappings and
published figures stay reproducible; :func:`layer_stream` builds them.
"""

from __future__ import annotations

import numpy as np

EP_PLACEMENT = 1
SAMPLED_BATCHES = 2
AGGREGATOR = 3
GAMMA_CALIBRATION = 7
NODE_BALANCE = 11
LINK_BALANCE = 12
DYNAMIC_PLACEMENT = 13

ALL_STREAMS = {"EP_PLACEMENT": EP_PLACEMENT, "SAMPLED_BATCHES": SAMPLED_BATCHES,
               "AGGREGATOR": AGGREGATOR,
               "GAMMA_CALIBRATION": GAMMA_CALIBRATION, "NODE_BALANCE": NODE_BALANCE,
               "LINK_BALANCE": LINK_BALANCE, "DYNAMIC_PLACEMENT": DYNAMIC_PLACEMENT}


def stream(seed: int, stream_id: int) -> np.random.Generator:
    """The generator of one purpose of a run: ``default_rng([seed, stream_id])``."""
    return np.random.default_rng([int(seed), int(stream_id)])


def stream_for(seed: int, stream_id: int, *extra: int) -> np.random.Generator:
    """The generator of one purpose and item: ``default_rng([seed, stream_id, *extra])``."""
    return np.random.default_rng([int(seed), int(stream_id), *(int(x) for x in extra)])


def layer_stream(seed: int, layer_id: int, stream_id: int) -> np.random.Generator:
    """The generator of one purpose for one layer: ``default_rng([seed, layer_id, stream_id])``."""
    return np.random.default_rng([int(seed), int(layer_id), int(stream_id)])
