"""A mapping file records the mesh shape it was made for (reliability issue: a 4x8 mapping was accepted
silently on 8x4, where the same node ids have other neighbours, and gave a different TBT)."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import MappingError
from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.strategies.mapping_io import load_mapping, load_mapping_for, save_mapping


def _mapping(num_nodes: int = 32, num_experts: int = 64) -> Mapping:
    share = np.zeros((num_experts, num_nodes))
    share[np.arange(num_experts), np.arange(num_experts) % num_nodes] = 1.0
    return Mapping("ep", (LayerMapping(share, np.arange(num_nodes)),), {"layer_ids": [1]})


def test_the_shape_is_saved_and_checked(tmp_path):
    path = save_mapping(_mapping(), tmp_path / "m.npz", "hash", mesh_shape=(4, 8))
    assert load_mapping(path)[1]["mesh_shape"] == [4, 8]
    load_mapping_for(path, num_experts=64, num_nodes=32, layer_ids=(1,), mesh_shape=(4, 8))
    with pytest.raises(MappingError, match=r"m.npz: mapping was made for a 4x8 mesh, this mesh is 8x4"):
        load_mapping_for(path, num_experts=64, num_nodes=32, layer_ids=(1,), mesh_shape=(8, 4))


def test_a_file_without_a_shape_is_accepted_with_a_warning(tmp_path):
    path = save_mapping(_mapping(), tmp_path / "old.npz", "hash")  # as files were written before
    with pytest.warns(UserWarning, match="does not record its mesh shape"):
        load_mapping_for(path, num_experts=64, num_nodes=32, layer_ids=(1,), mesh_shape=(8, 4))


def test_simulate_refuses_a_mapping_of_another_shape(tmp_path):
    from hdmoe_ray.testing import tiny_run
    from hdmoe_ray.workflows.simulate import run_simulate

    made = run_simulate(tiny_run(strategy="ep", **{"hardware.mesh_x": 2, "hardware.mesh_y": 4}), tmp_path / "a")
    assert made["tbt_us"] > 0
    saved = tmp_path / "a" / "artifacts" / "mapping_ep.npz"
    run = tiny_run(strategy="hdmoe", **{"hardware.mesh_x": 4, "hardware.mesh_y": 2,
                                        "strategy.mapping_path": str(saved)})
    with pytest.raises(MappingError, match="made for a 2x4 mesh, this mesh is 4x2"):
        run_simulate(run, tmp_path / "b")
    assert not (tmp_path / "b" / "summary.json").exists()
