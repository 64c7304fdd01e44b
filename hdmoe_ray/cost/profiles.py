"""The two cost profiles (docs/paper.md section 8) and the model sizes each one implies.

``paper`` reproduces the HD-MoE authors' conventions exactly: 1 byte per element for token traffic and
the attention/memory terms, 4 bytes per element for TP's all-reduce (eq. 4) and the 4/BW factor of eq. (2),
2*h*IS FLOPs per token per expert (eq. 1), no shared experts, KV length L = 1024, the intermediate size
the authors' evaluation code uses (``model.paper_expert_intermediate_size``, e.g. Qwen2's 18944), and their
evaluation's conventions: aggregator = lowest cluster holding a random member expert, one EP placement
for every layer, CB regions without equal counts, CB costed over region representatives plus the
intra-region proxy, attention/memory summed over the MoE layers.

``physical`` is one consistent, realistic set: bf16 (2 bytes) everywhere, SwiGLU's three matrices
(6*h*IS FLOPs), shared experts and dense layers counted, per-hop latency, memory capacity enforced,
dynamic placement's broadcast traffic loaded on the links, every layer's attention/memory, the
largest-share holder as aggregator, a fresh EP placement per layer, equal CB region counts, and CB's
all-to-all simulated flat (every TP partner of a region sends).

The constants sit in :class:`hdmoe_ray.config.schemas.ProfileConfig`; the table is in docs/cost_model.md.
"""

from __future__ import annotations

from collections.abc import Callable

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.core.registry import Registry

NS_PER_S = 1e9


def paper_profile() -> ProfileConfig:
    """The authors' conventions (docs/paper.md section 8): the schema's defaults."""
    return ProfileConfig()


def physical_profile() -> ProfileConfig:
    """bf16 everywhere, SwiGLU FLOPs, shared experts, hop latency, capacity and broadcast traffic counted."""
    return ProfileConfig(
        name="physical",
        a2a_bytes_per_element=2,
        allreduce_bytes_per_element=2,
        proxy_bytes_per_element=2,
        attn_bytes_per_element=2,
        weight_bytes_per_element=2,
        expert_flops_per_token_factor=6,
        include_shared_experts=True,
        use_paper_intermediate_size=False,
        kv_length=1024,
        hop_latency=True,
        enforce_capacity=True,
        count_broadcast_traffic=True,
        allreduce_model="ring",
        combine_phase="simulated",
        aggregator_rule="largest_share",
        attention_layers="all",
        ep_placement="per_layer",
        cb_region_counts="equal",
        cb_comm_model="flat_all_to_all",
        cb_proxy_mapping="own",
    )


PROFILES: Registry[Callable[[], ProfileConfig]] = Registry("profile")
PROFILES.add("paper", paper_profile)
PROFILES.add("physical", physical_profile)


def get_profile(name: str) -> ProfileConfig:
    """The named profile; :class:`UnknownNameError` (kind ``profile``) for any other name."""
    return PROFILES.get(name)()


def effective_intermediate_size(model: ModelConfig, profile: ProfileConfig) -> int:
    """IS of one routed expert under ``profile``.

    ``paper`` takes ``model.paper_expert_intermediate_size`` when the model sets one (the authors' code
    uses Qwen2's 18944 instead of the table's 2560, docs/paper.md section 2); otherwise the published IS.
    """
    if profile.use_paper_intermediate_size and model.paper_expert_intermediate_size is not None:
        return int(model.paper_expert_intermediate_size)
    return int(model.expert_intermediate_size)


def hop_latency_s(hardware: HardwareConfig, profile: ProfileConfig) -> float:
    """Latency of one hop (wire + router) in seconds, or 0 when the profile ignores it (``paper``)."""
    if not profile.hop_latency:
        return 0.0
    return (hardware.link_latency_ns + hardware.router_latency_ns) / NS_PER_S
