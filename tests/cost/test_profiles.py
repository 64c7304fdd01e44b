"""Profile constants (docs/paper.md section 8) and the sizes they imply."""

import pytest

from hdmoe_ray.core.errors import UnknownNameError
from hdmoe_ray.cost.profiles import (
    effective_intermediate_size,
    get_profile,
    hop_latency_s,
    paper_profile,
    physical_profile,
)

from .conftest import DEEPSEEK, HW_10T_25G, QWEN2


def test_paper_profile_has_the_authors_conventions():
    p = paper_profile()
    assert (p.a2a_bytes_per_element, p.attn_bytes_per_element, p.allreduce_bytes_per_element) == (1, 1, 4)
    assert p.proxy_bytes_per_element == 4  # the 4/BW of eq. (2)
    assert p.expert_flops_per_token_factor == 2
    assert p.kv_length == 1024
    assert not (p.include_shared_experts or p.hop_latency or p.enforce_capacity or p.count_broadcast_traffic)
    assert p.use_paper_intermediate_size


def test_physical_profile_is_bf16_swiglu_and_counts_everything():
    p = physical_profile()
    sizes = {p.a2a_bytes_per_element, p.attn_bytes_per_element, p.allreduce_bytes_per_element,
             p.proxy_bytes_per_element, p.weight_bytes_per_element}
    assert sizes == {2}
    assert p.expert_flops_per_token_factor == 6
    assert p.include_shared_experts and p.hop_latency and p.enforce_capacity and p.count_broadcast_traffic
    assert not p.use_paper_intermediate_size


def test_get_profile_by_name_and_unknown_name():
    assert get_profile("paper").name == "paper"
    assert get_profile("physical").name == "physical"
    with pytest.raises(UnknownNameError) as err:
        get_profile("fast")
    assert err.value.kind == "profile" and "paper" in str(err.value)


def test_effective_intermediate_size_uses_the_code_value_only_under_paper():
    assert effective_intermediate_size(QWEN2, paper_profile()) == 18944
    assert effective_intermediate_size(QWEN2, physical_profile()) == 2560
    assert effective_intermediate_size(DEEPSEEK, paper_profile()) == 1408


def test_hop_latency_is_wire_plus_router_only_when_enabled():
    assert hop_latency_s(HW_10T_25G, paper_profile()) == 0.0
    assert hop_latency_s(HW_10T_25G, physical_profile()) == pytest.approx(15e-9)
