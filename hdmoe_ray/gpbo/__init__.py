"""The GP-based Bayesian optimisation core (BoTorch / gpytorch), shared by LinkBalance and the Tune searcher.

    surrogate.py   GPSurrogate (one SingleTaskGP, refitted cheaply) and log expected improvement
    space.py       search spaces: continuous, integer and categorical dimensions, unit-cube encoding
    loop.py        GPBO: ask/tell with pending points, JSON-able state
"""
