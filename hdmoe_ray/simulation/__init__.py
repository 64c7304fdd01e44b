"""The simulator: run mappings of an MoE model on the mesh and break down the time between tokens.

Entry points: :func:`hdmoe_ray.simulation.simulator.prepare_inputs` and
:func:`hdmoe_ray.simulation.simulator.simulate_strategies`.
"""
