"""HD-MoE's offline optimiser (docs/paper.md section 4, docs/optimizer.md) and the baselines' placements.

    node_balance/   NodeBalance: how much of each expert each logical cluster holds (MILP, heuristic, gap)
    link_balance/   LinkBalance: which mesh node each cluster becomes (GP-BO over permutations)
    baselines/      placements of the baselines: EP shares, balanced assignment, hybrid regions and their MILP
    calibrate.py    gamma of eq. (3), fitted on the simulator
    layer.py        optimize_layer: NodeBalance then LinkBalance for one layer (a pure, picklable task)
    model.py        optimize_model: every layer of a model, fanned out by the caller's map
"""
