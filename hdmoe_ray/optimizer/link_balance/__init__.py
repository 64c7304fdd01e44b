"""LinkBalance (docs/paper.md section 4): the cluster -> mesh node permutation of one layer.

    encoding.py        permutation encodings (the paper's 2-D coordinates, link-congestion features)
    sparse_traffic.py  the congestion features from sparse cluster pairs, swap neighbours incrementally
    perm_cost.py       the objective: the simulator's all-to-all time of a permutation, bit for bit, fast
    flow_exact.py      its flow-model shortcut (the busiest link found from pair loads, summed exactly)
    bo_methods.py      the GP-BO methods gp_hungarian (the paper's) and gp_swap (ours) on the gpbo core
    bo_scalable.py     gp_swap above 64 nodes: sparse features, swaps from the congested region
    search.py          link_balance: every method (also random and anneal) at an equal evaluation budget,
                       batches of q placements evaluated through a map_fn, warm placements first
"""
