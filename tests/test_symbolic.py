"""sympy theory: closed forms solve eq 17, limits, half-max times, conservation proofs."""

import math

import numpy as np
import pytest
import sympy as sp

from dlnsim import modes, symbolic


@pytest.mark.parametrize("p", [0, 0.5, 1])
def test_closed_forms_solve_the_map_ode(p):
    assert symbolic.ode_residual(p, symbolic.closed_form(p)) == 0


def test_a_wrong_closed_form_leaves_a_residual():
    wrong = symbolic.s_star * sp.tanh(symbolic.eta * symbolic.t) ** 2  # missing sqrt(s*)/2
    assert symbolic.ode_residual(0.5, wrong) != 0
    assert symbolic.ode_residual(1, symbolic.closed_form(0)) != 0


def test_p2_implicit_time_inverts_the_ode():
    assert symbolic.implicit_residual(2, symbolic.implicit_time(2)) == 0
    assert symbolic.implicit_residual(3, symbolic.implicit_time(2)) != 0


@pytest.mark.parametrize("p", [0.25, 1.5, 2.5])
def test_hypergeometric_time_has_the_right_derivative(p):
    expr = sp.diff(symbolic.implicit_time_hyper(p), symbolic.s) - 1 / symbolic.map_rhs(p)
    f = sp.lambdify((symbolic.s, symbolic.s_star, symbolic.s0, symbolic.eta), expr, "mpmath")
    for x in (0.1, 0.7, 1.5):
        assert abs(complex(f(x, 2.0, 0.01, 1.3))) < 1e-12


@pytest.mark.parametrize("d,q", [(2, 1.0), (2, 2.0), (3, 2.0), (4, math.inf), (3, 3.0)])
def test_half_max_time_matches_integration_of_eq17(d, q):
    p = modes.exponent(d, q)
    init = 0.01 if p >= 1 else 1e-9
    th = symbolic.half_max_time(d, q, 2.0, lr=0.7, init=init)
    run = modes.simulate_map([init], [2.0], [0.0, th], d=d, q=q, lr=0.7, atol=1e-30)
    assert run.map[-1, 0] == pytest.approx(1.0, rel=1e-9)


def test_half_max_time_needs_init_for_p_at_least_one():
    with pytest.raises(ValueError, match="init"):
        symbolic.half_max_time(3, math.inf, 1.0)


def test_exponent_agrees_with_modes_and_table():
    for d in (1, 2, 3, 7):
        for q in (1.0, 1.5, 2.0, 3.0, math.inf):
            assert float(symbolic.exponent(d, q)) == pytest.approx(modes.exponent(d, q))
    t = symbolic.table1()
    assert t[(2, 2)] == sp.Rational(1, 2) and t[(sp.oo, sp.oo)] == 2 and t[(sp.oo, 2)] == 1


@pytest.mark.parametrize("kind,q,block", [
    ("hyperbolic", math.inf, False), ("hyperbolic", 1, False), ("hyperbolic", 2, False),
    ("ratio", 1, True), ("difference", 2, True), ("power", 3, True),
])
def test_each_rule_conserves_its_quantity(kind, q, block):
    assert symbolic.conservation_derivative(kind, 3, q, block) == 0


@pytest.mark.parametrize("kind,q,block", [
    ("ratio", 1, False), ("hyperbolic", 1, True), ("difference", math.inf, False),
])
def test_the_wrong_quantity_is_not_conserved(kind, q, block):
    assert symbolic.conservation_derivative(kind, 3, q, block) != 0


def test_balanced_map_dynamics_reduce_to_eq17():
    for d in (1, 2, 3):
        for q in (1, 2, math.inf):
            assert symbolic.map_dynamics_balanced(d, q) == 0


def test_gn_norm_identities_hold_symbolically():
    assert symbolic.gn_norm_identity((2, 2, 2)) == (0, 0)
    assert symbolic.gn_norm_identity((1, 2, 2, 1)) == (0, 0)


def test_effective_depth_limits():
    assert symbolic.effective_depth(sp.oo, 3) == 3
    assert symbolic.effective_depth(4, math.inf) == 4
    assert np.isclose(float(symbolic.effective_depth(3, 2)), 1.5)


@pytest.mark.parametrize("block", [False, True])
@pytest.mark.parametrize("q", [1, 2, 3, math.inf, sp.Rational(3, 2)])
@pytest.mark.parametrize("d", [1, 2, 4])
def test_symbolic_mode_velocities_equal_the_numeric_field_in_value(d, q, block):
    """The value of eqs 12 and 20-21 in sympy at random positive points equals
    modes.velocity (a zero conservation verdict cannot see a constant factor, a wrong power
    of d, or a swapped pair of layers; a value can)."""
    rng = np.random.default_rng(d)
    sigma = 0.1 + 2 * rng.random((7, d))
    s_star = 0.3 + 2 * rng.random(7)
    sym, vel = symbolic.mode_velocity(d, q, block)
    fn = sp.lambdify(list(sym) + [symbolic.s_star], vel, "numpy")
    want = np.stack([np.broadcast_to(np.asarray(v, dtype=float), s_star.shape)
                     for v in fn(*sigma.T, s_star)], axis=1)
    got = modes.velocity(sigma, s_star, q=float(q), block_diagonal=block)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_the_lazy_rich_closed_form_solves_its_ode_and_starts_at_u0():
    """symbolic.canon.unbalanced_mode_gd against du/dt = lr (s - u) sqrt(c^2 + 4 u^2) by
    central differences, for both signs of c and u0, rich to lazy."""
    from dlnsim.symbolic import canon

    t = np.linspace(0.0, 6.0, 61)
    for c, u0 in [(1e-3, 0.01), (0.5, -0.2), (-2.0, 0.3), (3.0, 1.0)]:
        u = canon.unbalanced_mode_gd(t, u0, c, 1.2, lr=0.7)
        assert abs(u[0] - u0) < 1e-14
        h = 1e-6
        du = (canon.unbalanced_mode_gd(t + h, u0, c, 1.2, 0.7)
              - canon.unbalanced_mode_gd(t - h, u0, c, 1.2, 0.7)) / (2 * h)
        np.testing.assert_allclose(du, 0.7 * (1.2 - u) * np.sqrt(c * c + 4 * u * u),
                                   rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="c must be non-zero"):
        canon.unbalanced_mode_gd(t, 0.1, 0.0, 1.0)


def test_decay_fixed_points_solve_their_equation_and_vanish_above_the_critical_decay():
    from dlnsim.symbolic import canon

    for d in (3, 4, 6):
        crit = canon.critical_decay(2.0, d)
        lo, hi = canon.decay_fixed_points(2.0, 0.5 * crit, d)
        for x in (lo, hi):
            assert abs((2.0 - x) * x ** ((d - 2) / d) - 0.5 * crit) < 1e-13
        assert 0 < lo < hi < 2.0
        assert canon.decay_fixed_points(2.0, 1.01 * crit, d) == []
    assert canon.decay_fixed_points(2.0, 0.5, 2) == [1.5]
    assert canon.decay_fixed_points(2.0, 3.0, 2) == []
    assert canon.balanced_sharpness(2.0, 3) == pytest.approx(3 * 2.0 ** (4 / 3), rel=1e-15)
    with pytest.raises(ValueError, match="gamma"):
        canon.decay_fixed_points(2.0, -1.0, 3)


def test_half_max_times_default_to_unit_rate():
    """Without lr (etabar), eq 17 at p = 0 from zero reaches s*/2 at ln 2 (etabar = lr d^0)."""
    assert symbolic.half_max_time(2, 1.0, 1.0) == pytest.approx(math.log(2), rel=1e-12)
    assert symbolic.half_max_time(3, 1.0, 5.0) == pytest.approx(math.log(2), rel=1e-12)
    assert symbolic.half_max_time_exponent(0.0, 1.0) == pytest.approx(math.log(2), rel=1e-12)


@pytest.mark.parametrize("call", [
    lambda: symbolic.closed_form(1, zero_init=True),
    lambda: symbolic.closed_form(2, zero_init=True),
    lambda: symbolic.half_max_time_exponent(1.0, 1.0),
    lambda: symbolic.half_max_time(2, math.inf, 1.0),
    lambda: symbolic.escape_exponent(2, math.inf),
], ids=["closed_form p=1", "closed_form p=2", "half_max p=1", "half_max GD d=2",
        "escape GD d=2"])
def test_a_start_at_zero_where_zero_is_a_fixed_point_is_refused(call):
    """For p >= 1 zero is a fixed point of eq 17: no closed form from zero, no half-max time
    without init, no finite-time escape; each says so instead of returning a number."""
    with pytest.raises(ValueError, match="fixed point|p >= 1|no finite-time escape"):
        call()


@pytest.mark.parametrize("init", [0.0, 0.5, 0.7, -0.1])
def test_a_half_max_time_from_an_init_outside_the_way_up_is_refused(init):
    """From init the half-max time integrates from init / s* to 1/2: only 0 < init < s*/2."""
    with pytest.raises(ValueError, match="init must lie strictly between 0 and target/2"):
        symbolic.half_max_time_exponent(0.5, 1.0, init=init)


def test_the_hypergeometric_implicit_time_refuses_p_1():
    """At p = 1 the antiderivative's 2F1 form degenerates; the logistic closed form is the
    one to use, and the function says so."""
    with pytest.raises(ValueError, match="logistic closed form"):
        symbolic.implicit_time_hyper(1)
