"""Online dynamic placement (the paper's third contribution; docs/dynamic.md): per decode batch and MoE
layer, predict the experts' loads, pre-broadcast the hot experts of the busiest nodes within the attention
window, and dispatch their tokens to the least-loaded holder.

Layer: above ``simulation`` (it times layers with the simulation's cost model), beside ``optimizer``,
below ``strategies`` and ``workflows`` (which call :func:`hdmoe_ray.dynamic.run.run_dynamic`).

- ``predictors/``: the PREDICTORS registry (oracle, history, cross_layer, bayesian);
- ``broadcast.py``: the chunked alpha-beta broadcast model, its optimal chunk and window bound, XY trees;
- ``scheduler.py``: priorities, the paper's rule and a marginal-gain rule, least-loaded dispatch;
- ``replicas.py``: resident replicas, memory and eviction (``profile=physical``);
- ``quality.py``: recall@k, load error, interval coverage, per-token top-k accuracy;
- ``setup.py``, ``evaluate.py``, ``run.py``: one run's constants, the per-batch loop, summary.json's ``dynamic``.
"""
