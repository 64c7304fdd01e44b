"""Attention and memory time per layer, from the authors' end-to-end TBT formula (docs/paper.md section 3).

    t_attn_mem = A / (D * comp) + M * bytes / (D * BW_mem)     per layer, for N_layers layers
    A = 3*B*h^2 + 2*B*L*h + B*h^2                               (FLOPs, as the authors write them)
    M = 2*B*h*L + 3*h*(B+h) + h*(B+h) + 2*E*IS*h + B*h*(IS/h + 1)   (elements)

L = ``profile.kv_length``, bytes = ``profile.attn_bytes_per_element`` (1 in ``paper``, 2 in
``physical``), IS the profile's effective expert IS, E the routed experts. Both terms are spread evenly
over the D nodes. The formula is kept as written in both profiles; ``physical`` changes only its
constants (bf16, the model's published IS). N_layers is every transformer layer
(``profile.attention_layers=all``, the default) or the MoE layers only (``moe``, the authors' sum:
26 of DeepSeek-V2-Lite's 27 layers).
"""

from __future__ import annotations

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig, ProfileConfig
from hdmoe_ray.cost.profiles import effective_intermediate_size


def attention_flops(batch_size: int, hidden_size: int, kv_length: int) -> float:
    """A = 3*B*h^2 + 2*B*L*h + B*h^2: QKV projection, scores and values over L, output projection."""
    b, h, seq = float(batch_size), float(hidden_size), float(kv_length)
    return 3 * b * h * h + 2 * b * seq * h + b * h * h


def memory_elements(batch_size: int, hidden_size: int, kv_length: int, num_experts: int,
                    intermediate_size: int) -> float:
    """M = 2*B*h*L + 3*h*(B+h) + h*(B+h) + 2*E*IS*h + B*h*(IS/h + 1) elements moved from DRAM per layer."""
    b, h, seq = float(batch_size), float(hidden_size), float(kv_length)
    e, inter = float(num_experts), float(intermediate_size)
    return 2 * b * h * seq + 3 * h * (b + h) + h * (b + h) + 2 * e * inter * h + b * h * (inter / h + 1)


def attn_mem_layer_s(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                     batch_size: int) -> float:
    """Seconds of attention + memory of ONE layer: A/(D*comp) + M*bytes/(D*BW_mem)."""
    d = hardware.num_nodes
    a = attention_flops(batch_size, model.hidden_size, profile.kv_length)
    m = memory_elements(batch_size, model.hidden_size, profile.kv_length, model.num_experts,
                        effective_intermediate_size(model, profile))
    return a / (d * hardware.flops_per_s) + m * profile.attn_bytes_per_element / (d * hardware.dram_bytes_per_s)


def attention_layer_count(model: ModelConfig, profile: ProfileConfig) -> int:
    """N_layers of the attention/memory sum: ``model.num_layers`` (``profile.attention_layers=all``) or
    ``model.num_moe_layers`` (``moe``)."""
    return model.num_moe_layers if profile.attention_layers == "moe" else model.num_layers


def attn_mem_total_s(model: ModelConfig, hardware: HardwareConfig, profile: ProfileConfig,
                     batch_size: int) -> float:
    """N_layers * per-layer attention/memory time (N_layers: :func:`attention_layer_count`)."""
    return attention_layer_count(model, profile) * attn_mem_layer_s(model, hardware, profile, batch_size)
