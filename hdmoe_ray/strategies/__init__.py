"""Mapping strategies: each a function (StrategyContext) -> Mapping in the STRATEGIES registry.

    registry.py     STRATEGIES, StrategyContext (what a strategy sees), build_mapping (validated, capacity)
    tp.py ep.py hybrid_cb.py hdmoe.py   the four strategies (options: hdmoe_ray/config/strategies.py)
    mapping_io.py   mapping files (.npz, no pickle), stamped with the config hash
"""
