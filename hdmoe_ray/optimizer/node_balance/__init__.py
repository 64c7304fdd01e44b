"""NodeBalance (docs/paper.md section 4): the program of one layer, solved tractably, gap reported.

    problem.py        NodeBalanceProblem and its exact objective
    build.py          the problem of one layer from the run's configs (constants of eq. 1-3, caps)
    state.py          incremental bookkeeping of a placement (loads, touches)
    local_search.py   construction and local search at a fixed load target
    heuristic.py      the sweep over load targets, LP rebalancing, iterated local search
    milp.py           the MILP on HiGHS, whole or restricted to a neighbourhood
    solve.py          node_balance: heuristic, then HiGHS or its neighbourhood search, with the bound
"""
