"""Gaussian-process surrogate and log expected improvement (BoTorch / gpytorch), kept cheap.

The surrogate is BoTorch's ``SingleTaskGP`` (its default RBF ARD kernel with dimension-scaled priors,
outcomes standardised). Hyperparameters are fitted by a few Adam steps on the exact marginal log likelihood,
warm-started from the previous fit (``hparams``): with <= ~100 points a refit costs tens of
milliseconds. Everything works on float64 torch tensors; callers pass and receive numpy arrays.

Acquisition (to MAXIMISE; the optimisers negate costs): analytic LogEI without pending points
(computed from the kernel directly: BoTorch's batched path builds an [N, n, d] tensor per call and is
~10x slower on thousands of candidates), and MC qLogEI with the pending points as ``X_pending``
(fantasised jointly) otherwise.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

DTYPE = torch.float64


def _import_botorch():
    from botorch.acquisition.analytic import LogExpectedImprovement  # noqa: F401 - kept for callers
    from botorch.acquisition.logei import qLogExpectedImprovement
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.sampling.normal import SobolQMCNormalSampler
    return LogExpectedImprovement, qLogExpectedImprovement, SingleTaskGP, Standardize, SobolQMCNormalSampler


def fit_gp(x: np.ndarray, y: np.ndarray, *, hparams: dict[str, Any] | None = None, steps: int = 60,
           lr: float = 0.05, seed: int = 0):
    """A SingleTaskGP on (x [n, d], y [n]) with hyperparameters fitted by Adam (warm start: ``hparams``).

    Returns the model in eval mode. ``hparams_of(model)`` gives the fitted values for the next warm start.
    """
    from gpytorch.mlls import ExactMarginalLogLikelihood

    _, _, single_task_gp, standardize, _ = _import_botorch()
    torch.manual_seed(seed)
    tx = torch.as_tensor(np.asarray(x), dtype=DTYPE)
    ty = torch.as_tensor(np.asarray(y), dtype=DTYPE).reshape(-1, 1)
    with warnings.catch_warnings():  # inputs are scaled by the callers (features need not lie in [0, 1])
        warnings.filterwarnings("ignore", message=r"Data \(input features\) is not contained")
        model = single_task_gp(tx, ty, outcome_transform=standardize(m=1))
    if hparams:
        own = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in hparams.items():
                t = torch.as_tensor(value, dtype=DTYPE)
                if name in own and own[name].shape == t.shape:
                    own[name].copy_(t)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    bounds = _raw_bounds(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        out = model(*model.train_inputs)
        loss = -mll(out, model.train_targets).sum()
        loss.backward()
        opt.step()
        with torch.no_grad():  # BoTorch's constraints carry no transform: project onto their bounds
            for param, lo, hi in bounds:
                param.clamp_(min=lo, max=hi)
    model.eval()
    return model


def _raw_bounds(model) -> list[tuple]:
    params = dict(model.named_parameters())
    out = []
    for name, constraint in model.named_constraints():
        raw = params.get(name.removesuffix("_constraint"))
        if raw is not None:
            lo = float(constraint.lower_bound.min()) if hasattr(constraint, "lower_bound") else None
            hi = float(constraint.upper_bound.max()) if hasattr(constraint, "upper_bound") else None
            out.append((raw, lo if lo is not None and np.isfinite(lo) else None,
                        hi if hi is not None and np.isfinite(hi) else None))
    return out


def hparams_of(model) -> dict[str, list]:
    """The model's raw hyperparameters as JSON-able nested lists."""
    return {name: p.detach().cpu().numpy().tolist() for name, p in model.named_parameters()}


def log_ei(model, candidates: np.ndarray, best_f: float, *, pending: np.ndarray | None = None,
           num_samples: int = 128, seed: int = 0) -> np.ndarray:
    """log EI [N] of each candidate row (maximisation, improvement over ``best_f``).

    Without pending points: the analytic LogEI on the exact posterior's mean and marginal variance,
    computed directly from the fitted kernel (one Cholesky of the training matrix; no N x N covariance);
    equal to BoTorch's ``LogExpectedImprovement`` (tests/optim/test_gp_core.py checks it). With ``pending`` (rows under
    evaluation), each candidate is scored jointly with them (BoTorch's qLogEI with ``X_pending``), so a
    batch spreads out instead of piling on one point.
    """
    if pending is not None and len(pending):
        _, q_log_ei_cls, _, _, sampler_cls = _import_botorch()
        sampler = sampler_cls(sample_shape=torch.Size([num_samples]), seed=seed)
        acq = q_log_ei_cls(model, best_f=best_f, sampler=sampler,
                           X_pending=torch.as_tensor(np.asarray(pending), dtype=DTYPE))
        cand = torch.as_tensor(np.asarray(candidates), dtype=DTYPE)
        with torch.no_grad():
            return torch.cat([acq(part.unsqueeze(1)) for part in torch.split(cand, 1024)]).cpu().numpy()
    mu, sigma = standardized_posterior(model, candidates)
    tf = model.outcome_transform
    std = float(tf.stdvs.squeeze())
    best = (best_f - float(tf.means.squeeze())) / std
    return log_expected_improvement(mu, sigma, best) + np.log(std)  # EI scales with the outcome's std


def standardized_posterior(model, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and standard deviation [N] of the latent f on the standardised outcome scale."""
    with torch.no_grad():
        x_tr = model.train_inputs[0]
        y_tr = model.train_targets
        cand = torch.as_tensor(np.asarray(candidates), dtype=DTYPE)
        k_xx = model.covar_module(x_tr).to_dense()
        noise = model.likelihood.noise.reshape(-1)[0]
        chol, _ = torch.linalg.cholesky_ex(k_xx + (noise + 1e-8) * torch.eye(x_tr.shape[0], dtype=DTYPE))
        const = model.mean_module.constant
        alpha = torch.cholesky_solve((y_tr - const).unsqueeze(-1), chol)
        k_cx = model.covar_module(cand, x_tr).to_dense()
        mu = const + (k_cx @ alpha).squeeze(-1)
        v = torch.linalg.solve_triangular(chol, k_cx.T, upper=False)
        prior_var = model.covar_module(cand, cand, diag=True)
        var = torch.clamp(prior_var - (v * v).sum(0), min=1e-12)
        return mu.cpu().numpy(), var.sqrt().cpu().numpy()


def log_expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """log E[max(f - best, 0)] for f ~ N(mu, sigma^2), stable far below the incumbent.

    EI = sigma * h(z), z = (mu - best) / sigma, h(z) = phi(z) + z Phi(z); for z < 0,
    h(z) = exp(-z^2/2) * (1/sqrt(2 pi) + z/2 * erfcx(-z/sqrt(2))) avoids underflow.
    """
    from scipy.special import erfcx, ndtr

    z = (np.asarray(mu) - best) / np.asarray(sigma)
    out = np.empty_like(z)
    pos = z >= 0
    zp = z[pos]
    out[pos] = np.log(np.exp(-0.5 * zp * zp) / np.sqrt(2 * np.pi) + zp * ndtr(zp))
    zn = np.maximum(z[~pos], -1e4)
    out[~pos] = -0.5 * zn * zn + np.log(np.maximum(1 / np.sqrt(2 * np.pi) + 0.5 * zn * erfcx(-zn / np.sqrt(2)),
                                                    1e-300))
    return out + np.log(sigma)


def posterior_mean(model, candidates: np.ndarray) -> np.ndarray:
    """Posterior mean [N] in the original outcome units."""
    with torch.no_grad():
        post = model.posterior(torch.as_tensor(np.asarray(candidates), dtype=DTYPE))
        return post.mean.squeeze(-1).cpu().numpy()


def limit_threads(num_threads: int = 1) -> None:
    """Keep torch to few threads (a Ray task per core; tiny matrices gain nothing from more)."""
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)
