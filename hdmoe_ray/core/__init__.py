"""Core types every layer shares, at the bottom of the layer order (they import nothing above them).

    errors.py          the typed error hierarchy (HdmoeError, ConfigError, TraceError, MappingError, ...)
    registry.py        Registry: the one name -> member registry class of the project
    random_streams.py  the named random streams (one per purpose, seeded by the config)
    atomic_io.py       the one atomic file writer
    trace.py           RoutingTrace: per layer, each token's top-k expert ids
    groups.py          GroupTable: the distinct top-k sets of a layer and their frequencies f_g
    layer_workload.py  LayerWorkload: one layer's tokens per group and per expert in one decode step
    mapping.py         Mapping / LayerMapping: P[expert, cluster] and cluster -> mesh node, per layer
    breakdown.py       LayerCost / TbtBreakdown: per-layer compute and communication, and their total
"""
