"""LinkBalance (docs/paper.md section 4): the cluster -> mesh node permutation of one layer.

    encoding.py     permutation encodings (the paper's 2-D coordinates, link-congestion features)
    bo_methods.py   the GP-BO methods gp_hungarian (the paper's) and gp_swap (ours) on the gpbo core
    search.py       link_balance: every method (also random and anneal) at an equal evaluation budget
"""
