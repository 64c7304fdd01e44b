"""Load predictors of dynamic placement, one module each, in the PREDICTORS registry (``base.py``):
``oracle`` (the truth), ``history`` (EMA of previous batches), ``cross_layer`` (co-activation counts),
``bayesian`` (an MC-dropout MLP). Add one: a class in its own module decorated
``@PREDICTORS.register("<name>")``, the module in PREDICTORS' built-in modules, the name in
``config.strategies.DYNAMIC_PREDICTORS``."""
