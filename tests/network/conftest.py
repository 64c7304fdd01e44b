"""Fixtures of the network tests: layers of the real DeepSeek-V2-Lite ``law`` trace, parsed minimally."""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hdmoe_ray.core.groups import GroupTable, group_table
from hdmoe_ray.hardware.mesh import Mesh

LAW = Path(__file__).resolve().parents[2] / "hdmoe_ray/data/routing_traces/esft_deepseek_v2_lite/law"
NUM_EXPERTS, TOP_K = 64, 6


@lru_cache(maxsize=8)
def law_layer_ids(layer: int) -> np.ndarray:
    """int [tokens, 6] expert ids of one MoE layer (1..26): each line is ids, a double tab, gate weights."""
    ids: list[int] = []
    with gzip.open(LAW / f"expert_weights_{layer}.txt.gz", "rt") as fh:
        for line in fh:
            ids.extend(int(x) for x in line.split("\t\t")[0].split("\t"))
    return np.asarray(ids, dtype=np.int64).reshape(-1, TOP_K)


@lru_cache(maxsize=8)
def law_groups(layer: int) -> GroupTable:
    return group_table(law_layer_ids(layer), NUM_EXPERTS)


@pytest.fixture(scope="session")
def law_layer1() -> GroupTable:
    return law_groups(1)


@pytest.fixture(scope="session")
def mesh48() -> Mesh:
    return Mesh(4, 8)
