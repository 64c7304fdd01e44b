"""Gaussian-process surrogate and log expected improvement (BoTorch / gpytorch), kept cheap.

:class:`GPSurrogate` wraps one BoTorch ``SingleTaskGP`` (its default RBF ARD kernel with
dimension-scaled priors) on standardised outcomes. It is built once and then only given new training
data (``set_train_data``); hyperparameters are refitted by a few Adam steps on the exact marginal log
likelihood, warm-started from the current values, when the caller asks for steps. With <= ~100 points
a round then costs milliseconds instead of the tens of milliseconds of rebuilding and refitting.

Acquisition (to MAXIMISE; the optimisers negate costs): analytic LogEI without pending points, computed
from the kernel directly (:class:`LogEI`: one Cholesky of the training matrix per round; BoTorch's
batched path builds an [N, n, d] tensor per call and is ~10x slower on thousands of candidates), and
MC qLogEI with the pending points as ``X_pending`` (fantasised jointly) otherwise.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

DTYPE = torch.float64


class GPSurrogate:
    """One GP over (x [n, d], y [n]) that is refitted incrementally (see the module docstring)."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.model = None
        self.y_mean, self.y_std = 0.0, 1.0

    def fit(self, x: np.ndarray, y: np.ndarray, *, steps: int, lr: float = 0.05) -> GPSurrogate:
        """Condition on (x, y); run ``steps`` Adam steps on the hyperparameters (0: keep them)."""
        y = np.asarray(y, dtype=np.float64)
        self.y_mean = float(y.mean())
        self.y_std = float(y.std()) or 1.0
        tx = torch.as_tensor(np.asarray(x), dtype=DTYPE)
        ty = torch.as_tensor((y - self.y_mean) / self.y_std, dtype=DTYPE)
        if self.model is None or self.model.train_inputs[0].shape[-1] != tx.shape[-1]:
            from botorch.exceptions.warnings import InputDataWarning
            from botorch.models import SingleTaskGP

            torch.manual_seed(self.seed)
            with warnings.catch_warnings():  # inputs are scaled by the callers, outcomes standardised here
                warnings.simplefilter("ignore", InputDataWarning)
                self.model = SingleTaskGP(tx, ty.unsqueeze(-1), outcome_transform=None)
        else:
            self.model.set_train_data(inputs=tx, targets=ty, strict=False)
        if steps > 0:
            _adam(self.model, steps, lr)
        self.model.eval()
        return self

    def hparams(self) -> dict[str, list]:
        """Raw hyperparameters as JSON-able nested lists."""
        return {name: p.detach().cpu().numpy().tolist() for name, p in self.model.named_parameters()}

    def load_hparams(self, hparams: dict[str, Any]) -> None:
        own = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in hparams.items():
                t = torch.as_tensor(value, dtype=DTYPE)
                if name in own and own[name].shape == t.shape:
                    own[name].copy_(t)

    def log_ei(self, candidates: np.ndarray, best_f: float, *, pending: np.ndarray | None = None,
               num_samples: int = 128, seed: int = 0) -> np.ndarray:
        """log EI [N] over ``best_f`` in the caller's units (LogEI, or qLogEI jointly with ``pending``)."""
        if pending is None or not len(pending):
            return self.acquisition(best_f)(candidates)
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.sampling.normal import SobolQMCNormalSampler

        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([num_samples]), seed=seed)
        acq = qLogExpectedImprovement(self.model, best_f=(best_f - self.y_mean) / self.y_std, sampler=sampler,
                                      X_pending=torch.as_tensor(np.asarray(pending), dtype=DTYPE))
        cand = torch.as_tensor(np.asarray(candidates), dtype=DTYPE)
        with torch.no_grad():
            out = torch.cat([acq(part.unsqueeze(1)) for part in torch.split(cand, 1024)])
        return out.cpu().numpy() + np.log(self.y_std)

    def greedy_batch(self, candidates: np.ndarray, best_f: float, q: int, *, acq: np.ndarray | None = None,
                     eligible: np.ndarray | None = None, pool: int = 256, seed: int = 0) -> list[int]:
        """Indices of ``q`` distinct candidates to evaluate together (parallel batch BO).

        The first maximises analytic LogEI (``acq`` when the caller has it); each next one maximises qLogEI
        with the ones already picked as ``X_pending`` (fantasised jointly), over the ``pool`` eligible
        candidates of highest LogEI. Fewer than ``q`` when fewer are eligible. Deterministic for a seed.
        """
        cand = np.asarray(candidates, dtype=np.float64)
        acq = self.acquisition(best_f)(cand) if acq is None else np.asarray(acq, dtype=np.float64)
        ok = np.ones(len(cand), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool).copy()
        acq = np.where(ok, acq, -np.inf)
        order = [int(i) for i in np.argsort(-acq, kind="stable") if ok[i]]
        if not order or q <= 0:
            return []
        picks = [order[0]]
        shortlist = np.asarray(order[1:pool + 1], dtype=np.int64)
        while len(picks) < q and shortlist.size:
            scores = self.log_ei(cand[shortlist], best_f, pending=cand[picks], seed=seed + len(picks))
            k = int(np.argmax(scores))
            picks.append(int(shortlist[k]))
            shortlist = np.delete(shortlist, k)
        return picks

    def acquisition(self, best_f: float) -> LogEI:
        """Analytic LogEI over ``best_f`` (caller's units) with this round's factorisation cached."""
        return LogEI(self.model, (best_f - self.y_mean) / self.y_std, log_scale=float(np.log(self.y_std)))


def _adam(model, steps: int, lr: float) -> None:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    bounds = _raw_bounds(model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = -mll(model(*model.train_inputs), model.train_targets).sum()
        loss.backward()
        opt.step()
        with torch.no_grad():  # BoTorch's constraints carry no transform: project onto their bounds
            for param, lo, hi in bounds:
                param.clamp_(min=lo, max=hi)


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


class LogEI:
    """Analytic LogEI of a fitted model (on its own outcome scale), training factorisation computed once.

    Equals BoTorch's ``LogExpectedImprovement(model, best_f)`` (tests/optim/test_gp_core.py), plus
    ``log_scale`` (log of the outcome standardisation, so values are in the caller's units).
    """

    def __init__(self, model, best_f: float, *, log_scale: float = 0.0):
        self.model = model
        self.best = float(best_f)
        self.log_scale = log_scale
        with torch.no_grad():
            self.x_tr = model.train_inputs[0]
            k_xx = model.covar_module(self.x_tr).to_dense()
            noise = model.likelihood.noise.reshape(-1)[0]
            eye = torch.eye(self.x_tr.shape[0], dtype=DTYPE)
            self.chol, _ = torch.linalg.cholesky_ex(k_xx + (noise + 1e-8) * eye)
            self.const = model.mean_module.constant
            self.alpha = torch.cholesky_solve((model.train_targets - self.const).unsqueeze(-1), self.chol)

    def posterior(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation [N] of the latent f."""
        with torch.no_grad():
            cand = torch.as_tensor(np.asarray(candidates), dtype=DTYPE)
            k_cx = self.model.covar_module(cand, self.x_tr).to_dense()
            mu = self.const + (k_cx @ self.alpha).squeeze(-1)
            v = torch.linalg.solve_triangular(self.chol, k_cx.T, upper=False)
            prior_var = self.model.covar_module(cand, cand, diag=True)
            var = torch.clamp(prior_var - (v * v).sum(0), min=1e-12)
            return mu.cpu().numpy(), var.sqrt().cpu().numpy()

    def __call__(self, candidates: np.ndarray) -> np.ndarray:
        mu, sigma = self.posterior(candidates)
        return log_expected_improvement(mu, sigma, self.best) + self.log_scale


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


def limit_threads(num_threads: int = 1) -> None:
    """Keep torch to few threads (a Ray task per core; tiny matrices gain nothing from more)."""
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)
