"""K-FAC and TKFAC factors against their definitions."""

import numpy as np
import pytest

from dlnsim import kfac


def _batch(seed=0, n=7, m_in=3, m_out=4):
    rng = np.random.default_rng(seed)
    return kfac.PerExample(rng.uniform(0.2, 2, (n, 1)) * rng.standard_normal((n, m_in)),
                           rng.standard_normal((n, m_out)))


def test_factors_follow_their_definitions():
    f = _batch()
    lam = [np.outer(a, a) for a in f.acts]
    gam = [np.outer(g, g) for g in f.grads]
    assert np.allclose(kfac.exact_block(f), np.mean([np.kron(x, y) for x, y in zip(lam, gam)],
                                                    axis=0))
    a, b = kfac.kfac_factors(f)
    assert np.allclose(a, np.mean(lam, axis=0)) and np.allclose(b, np.mean(gam, axis=0))
    delta, phi, psi = kfac.tkfac_factors(f)
    d = np.mean([np.trace(x) * np.trace(y) for x, y in zip(lam, gam)])
    assert delta == pytest.approx(d)
    assert np.allclose(phi, np.mean([np.trace(y) * x for x, y in zip(lam, gam)], axis=0) / d)
    assert np.allclose(psi, np.mean([np.trace(x) * y for x, y in zip(lam, gam)], axis=0) / d)


def test_tkfac_keeps_the_trace_and_kfac_does_not():
    f = _batch(1)
    exact = np.trace(kfac.exact_block(f))
    delta, phi, psi = kfac.tkfac_factors(f)
    a, b = kfac.kfac_factors(f)
    assert delta * np.trace(phi) * np.trace(psi) == pytest.approx(exact, rel=1e-12)
    assert abs(np.trace(a) * np.trace(b) - exact) > 1e-3 * exact


def test_damped_factors_eq_5_15():
    f = _batch(2)
    delta, phi, psi = kfac.tkfac_factors(f)
    p, s = kfac.damped_tkfac_factors(f, 0.04)
    assert np.allclose(p, np.sqrt(delta) * phi + 0.2 * np.eye(3))
    assert np.allclose(s, np.sqrt(delta) * psi + 0.2 * np.eye(4))


def test_bounds_hold_and_are_positive():
    for seed in range(20):
        f = _batch(seed, n=2 + seed % 6)
        exact = kfac.exact_block(f)
        delta, phi, psi = kfac.tkfac_factors(f)
        a, b = kfac.kfac_factors(f)
        assert np.linalg.norm(exact - delta * np.kron(phi, psi)) <= kfac.tkfac_bound(f)
        assert np.linalg.norm(exact - np.kron(a, b)) <= kfac.kfac_bound(f)


def test_per_example_shapes_are_checked():
    with pytest.raises(ValueError, match="grads must have shape"):
        kfac.PerExample(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="damping"):
        kfac.damped_tkfac_factors(_batch(), -1.0)
