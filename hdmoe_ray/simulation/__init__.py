"""The simulator: a run's inputs, the cost of a mapping's layers, and the engines that time them.

    steps.py        the decode steps to simulate (expected traffic, or sampled batches)
    layer_cost.py   LayerCostModel: compute (eq. 1) and communication (all-reduce or all-to-all) of a layer
    simulator.py    prepare_inputs, simulate_mapping -> TbtBreakdown
    engines/        local (one process) and ray (actors own tiles of mesh nodes); same numbers
"""
