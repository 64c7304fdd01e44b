"""The simulator: run mappings of an MoE model on the mesh and break down the time between tokens."""

from hdmoe_ray.simulation.simulator import SimulationInputs, StrategyResult, prepare_inputs, simulate_strategies

__all__ = ["SimulationInputs", "StrategyResult", "prepare_inputs", "simulate_strategies"]
