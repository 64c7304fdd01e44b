"""Placements of the baseline strategies (docs/paper.md section 6), also NodeBalance's warm start.

    balance.py        split counts and the greedy largest-first assignment
    ep_placement.py   EP: experts shuffled or balanced onto D slots
    regions.py        hybrid: the mesh cut into R rectangles, per-region shares
    region_milp.py    hybrid: experts assigned to regions by a MILP (HiGHS)
"""
