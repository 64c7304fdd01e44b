"""gamma of eq. (3): exact recovery on synthetic lines, and a fit of the DES on the real DeepSeek trace."""

from __future__ import annotations

import numpy as np
import pytest

from hdmoe_ray.core.errors import ConfigError
from hdmoe_ray.network.gamma import fit_gamma, fit_gamma_on_trace

from .conftest import law_groups


def test_recovers_gamma_through_origin():
    x = np.linspace(1e-6, 5e-6, 20)
    fit = fit_gamma(x, 2.5 * x)
    assert fit.gamma == pytest.approx(2.5) and fit.slope == pytest.approx(2.5)
    assert fit.intercept_s == pytest.approx(0.0, abs=1e-18)
    assert fit.r2 == pytest.approx(1.0) and fit.r2_through_origin == pytest.approx(1.0)
    assert fit.num_samples == 20


def test_affine_and_noisy_lines():
    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 3.0, 200)
    y = 2.0 * x + 1.0
    fit = fit_gamma(x, y)
    assert fit.slope == pytest.approx(2.0) and fit.intercept_s == pytest.approx(1.0)
    assert fit.gamma == pytest.approx((x @ y) / (x @ x))  # the through-origin normal equation
    assert fit.r2 == pytest.approx(1.0) and fit.r2_through_origin < 1.0
    noisy = fit_gamma(x, 3.0 * x + rng.normal(0.0, 0.3, 200))
    assert noisy.gamma == pytest.approx(3.0, rel=0.02)
    r = np.corrcoef(x, 3.0 * x + rng.normal(0.0, 0.3, 200))[0, 1]
    assert 0.8 < noisy.r2 < 1.0 and abs(noisy.r2 - r**2) < 0.05


def test_bad_samples():
    with pytest.raises(ConfigError, match="gamma.samples"):
        fit_gamma([1.0], [1.0])
    with pytest.raises(ConfigError, match="gamma.samples"):
        fit_gamma([1.0, 2.0], [1.0])
    with pytest.raises(ConfigError, match="zero"):
        fit_gamma([0.0, 0.0], [1.0, 2.0])


def test_fit_on_deepseek_law(mesh48):
    tables = [law_groups(layer) for layer in (1, 2, 3)]
    members = [t.membership() for t in tables]
    volumes = [t.freq * 128 * 2048 for t in tables]
    samples = fit_gamma_on_trace(mesh48, members, volumes, 50e9, np.random.default_rng(0), num_mappings=18)
    assert samples.t_hat_s.shape == samples.t_sim_s.shape == (18,)
    assert set(samples.kind) == {"ep", "hybrid", "sparse"}
    assert np.all(samples.t_sim_s >= 0.5 * samples.t_hat_s)  # the DES is never far below the proxy
    assert samples.fit.gamma > 1.0 and samples.fit.r2 > 0.7
    # a proxy counted with 4 bytes per element (profile=paper) scales gamma by exactly 1/4
    again = fit_gamma_on_trace(mesh48, members, volumes, 50e9, np.random.default_rng(0), num_mappings=18,
                               proxy_volume_bytes_per_layer=[4 * v for v in volumes])
    assert again.fit.gamma == pytest.approx(samples.fit.gamma / 4)
