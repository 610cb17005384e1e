"""Symbolic theory with sympy: exponents, closed forms, half-max times, conservation proofs.

Everything here is derived or checked symbolically (by substitution into the ODE, by exact
limits, by differentiation), independently of the numerical integrators, so that
:mod:`dlnsim.verify` can compare the two.

Notation (Huh 2020): balanced map ODE ``dsbar/dt = -etabar (sbar - s*) sbar^p`` (eq 17) with
``p = 2 (d - 1)(q - 1) / (d q)``, ``etabar = lr d^{1 - 1/q}`` and ``d_eff = d q / (d + q - 1)``.
"""

from __future__ import annotations

import math

import mpmath
import sympy as sp

t, s, s_star, s0, eta = sp.symbols("t sbar s_star s_0 etabar", positive=True)
d_sym, q_sym = sp.symbols("d q", positive=True)


def _q(q):
    if q is None:
        return q_sym
    if isinstance(q, float) and math.isinf(q):
        return sp.oo
    return sp.nsimplify(q) if not isinstance(q, sp.Basic) else q


def _d(d):
    if d is None:
        return d_sym
    return sp.nsimplify(d) if not isinstance(d, sp.Basic) else d


def exponent(d=None, q=None) -> sp.Expr:
    """``p(d, q) = 2 (d - 1)(q - 1) / (d q)`` (eq 17); ``q = inf`` and ``d = inf`` as limits.

    Parameters
    ----------
    d : int, sympy.Expr or None
        Depth (``sympy.oo`` for the limit; None keeps the symbol ``d``).
    q : float, sympy.Expr or None
        Curvature order (``inf`` or ``sympy.oo`` for GD; None keeps the symbol ``q``).

    Returns
    -------
    sympy.Expr
    """
    dd, qq = _d(d), _q(q)
    expr = 2 * (d_sym - 1) * (q_sym - 1) / (d_sym * q_sym)
    expr = sp.limit(expr, q_sym, sp.oo) if qq is sp.oo else expr.subs(q_sym, qq)
    expr = sp.limit(expr, d_sym, sp.oo) if dd is sp.oo else expr.subs(d_sym, dd)
    return sp.simplify(expr)


def calibrated_rate(d=None, q=None, lr=1) -> sp.Expr:
    """Depth-calibrated learning rate ``etabar = lr d^{1 - 1/q}`` (eq 17).

    Parameters
    ----------
    d : int, sympy.Expr or None
        Depth (``sympy.oo`` for the limit; None keeps the symbol ``d``).
    q : float, sympy.Expr or None
        Curvature order (``inf`` or ``sympy.oo`` for GD; None keeps the symbol ``q``).
    lr : number or sympy.Expr
        Learning rate.

    Returns
    -------
    sympy.Expr
    """
    qq = _q(q)
    power = 1 if qq is sp.oo else 1 - 1 / qq
    return sp.nsimplify(lr) * _d(d) ** power


def effective_depth(d=None, q=None) -> sp.Expr:
    """``d_eff = d q / (d + q - 1)`` (eq 18); limits for infinite ``d`` or ``q``.

    Parameters
    ----------
    d : int, sympy.Expr or None
        Depth (``sympy.oo`` for the limit; None keeps the symbol ``d``).
    q : float, sympy.Expr or None
        Curvature order (``inf`` or ``sympy.oo`` for GD; None keeps the symbol ``q``).

    Returns
    -------
    sympy.Expr
    """
    dd, qq = _d(d), _q(q)
    expr = d_sym * q_sym / (d_sym + q_sym - 1)
    expr = sp.limit(expr, q_sym, sp.oo) if qq is sp.oo else expr.subs(q_sym, qq)
    expr = sp.limit(expr, d_sym, sp.oo) if dd is sp.oo else expr.subs(d_sym, dd)
    return sp.simplify(expr)


def table1() -> dict[tuple, sp.Expr]:
    """Table 1 of Huh (2020): ``p`` for ``d`` in {1, 2, oo} and ``q`` in {1, 2, oo}.

    The infinite entries are sympy limits of the general formula (taken in both orders for the
    corner ``d, q -> oo``, which must agree).

    Returns
    -------
    dict
        ``{(d, q): p}``.

    Raises
    ------
    ArithmeticError
        If the two orders of the double limit disagree.
    """
    out = {}
    for d in (1, 2, sp.oo):
        for q in (1, 2, sp.oo):
            out[(d, q)] = exponent(d, q)
    general = 2 * (d_sym - 1) * (q_sym - 1) / (d_sym * q_sym)
    other = sp.limit(sp.limit(general, d_sym, sp.oo), q_sym, sp.oo)
    if other != out[(sp.oo, sp.oo)]:
        raise ArithmeticError("the limits d -> oo and q -> oo do not commute")
    return out


# -- the balanced map ODE ---------------------------------------------------------------------
def map_rhs(p, sbar=s) -> sp.Expr:
    """Right-hand side of eq 17: ``-etabar (sbar - s*) sbar^p``.

    Parameters
    ----------
    p : number or sympy.Expr
        The exponent.
    sbar : sympy.Expr
        The map strength (default the symbol ``sbar``).

    Returns
    -------
    sympy.Expr
    """
    return -eta * (sbar - s_star) * sbar ** sp.nsimplify(p)


def closed_form(p, zero_init: bool = False) -> sp.Expr:
    """``sbar(t)`` for ``p`` in {0, 1/2, 1} from ``sbar(0) = s_0`` (or 0 for p < 1).

    The paper's forms (section 4) are the ``zero_init`` cases for p = 0, 1/2; the general-init
    forms are derived here (atanh shift for p = 1/2).

    Parameters
    ----------
    p : number
        0, 1/2 or 1.
    zero_init : bool
        Start from 0 (p < 1 only) instead of the symbol ``s_0``.

    Returns
    -------
    sympy.Expr
        ``sbar(t)`` in the symbols ``t``, ``s_star``, ``s_0``, ``etabar``.

    Raises
    ------
    ValueError
        Another ``p``, or ``zero_init`` with ``p >= 1``.
    """
    p = sp.nsimplify(p)
    init = sp.Integer(0) if zero_init else s0
    if zero_init and p >= 1:
        raise ValueError("zero initial condition is a fixed point for p >= 1; give s_0")
    if p == 0:
        return s_star + (init - s_star) * sp.exp(-eta * t)
    if p == sp.Rational(1, 2):
        return s_star * sp.tanh(eta * sp.sqrt(s_star) * t / 2 + sp.atanh(sp.sqrt(init / s_star)))**2
    if p == 1:
        return s_star / (1 + (s_star / init - 1) * sp.exp(-eta * s_star * t))
    raise ValueError(f"no explicit closed form for p = {p}; use implicit_time(p)")


def implicit_time(p) -> sp.Expr:
    """``t(sbar) = int_{s_0}^{sbar} du / (etabar (s* - u) u^p)``, exact for integer/half p.

    For p = 2 this is the paper's implicit solution; for general p sympy returns it in closed
    form where it can (see :func:`implicit_time_hyper` for any real p != 1).

    Parameters
    ----------
    p : number
        The exponent.

    Returns
    -------
    sympy.Expr
        ``t`` as a function of the symbol ``sbar``.
    """
    u = sp.Symbol("u", positive=True)
    p = sp.nsimplify(p)
    expr = sp.integrate(sp.apart(1 / (eta * (s_star - u) * u**p), u), (u, s0, s))
    return sp.simplify(expr)


def implicit_time_hyper(p) -> sp.Expr:
    """``t(sbar)`` for any ``p != 1`` through ``2F1``: with ``F(u) = u^{1-p}/(1-p)
    2F1(1, 1-p; 2-p; u)``, ``t = s*^{-p} (F(sbar/s*) - F(s_0/s*)) / etabar``.

    Parameters
    ----------
    p : number
        The exponent, ``!= 1``.

    Returns
    -------
    sympy.Expr
    """
    p = sp.nsimplify(p)
    if p == 1:
        raise ValueError("p = 1 has the logistic closed form")
    return s_star ** (-p) * (_antiderivative(p, s / s_star) - _antiderivative(p, s0 / s_star)) / eta


def _antiderivative(p, u):
    return u ** (1 - p) / (1 - p) * sp.hyper([1, 1 - p], [2 - p], u)


def ode_residual(p, expr: sp.Expr) -> sp.Expr:
    """``d expr/dt - rhs(expr)``, simplified (0 when ``expr`` solves eq 17).

    After differentiating, each ``tanh`` argument (positive for t > 0) is replaced by a positive
    dummy so that ``sqrt(tanh(x)^2) = tanh(x)``, and hyperbolic functions are written as exps.

    Parameters
    ----------
    p : number
        The exponent.
    expr : sympy.Expr
        A candidate ``sbar(t)``.

    Returns
    -------
    sympy.Expr
    """
    r = sp.diff(expr, t) - map_rhs(p, expr)
    args = {a.args[0] for a in r.atoms(sp.tanh)}
    r = r.subs({a: sp.Dummy("x", positive=True) for a in args})
    return sp.simplify(r.rewrite(sp.exp))


def implicit_residual(p, t_of_s: sp.Expr) -> sp.Expr:
    """``dt/dsbar - 1 / rhs(sbar)`` (0 when ``t(sbar)`` inverts a solution of eq 17).

    Parameters
    ----------
    p : number
        The exponent.
    t_of_s : sympy.Expr
        A candidate ``t(sbar)``.

    Returns
    -------
    sympy.Expr
    """
    return sp.simplify(sp.diff(t_of_s, s) - 1 / map_rhs(p, s))


def half_max_time(d: int, q: float, target: float, lr: float = 1.0,
                  init: float | None = None) -> float:
    """Time for eq 17 to reach ``s*/2`` from zero (p < 1) or from ``init`` (any p).

    ``t_1/2 = s*^{-p} / etabar * int_{u_0}^{1/2} u^{-p} / (1 - u) du`` with ``u_0 = init / s*``:
    ``(1/2)^{1-p} 2F1(1, 1-p; 2-p; 1/2) / (1-p)`` from zero, mpmath quadrature otherwise.
    It scales as ``s*^{-p}`` at fixed ``u_0`` (claim huh.timescale).

    Parameters
    ----------
    d : int
        Depth.
    q : float
        Curvature order.
    target : float
        ``s* > 0``.
    lr : float
        Learning rate.
    init : float, optional
        ``sbar(0)``, strictly between 0 and ``target / 2``; needed for ``p >= 1``.

    Returns
    -------
    float
    """
    return half_max_time_exponent(float(exponent(d, q)), target,
                                  float(calibrated_rate(d, q, lr)), init)


def half_max_time_exponent(p: float, target: float, etabar: float = 1.0,
                           init: float | None = None) -> float:
    """:func:`half_max_time` for a given exponent ``p`` and rate ``etabar``.

    Parameters
    ----------
    p : float
        The exponent.
    target : float
        ``s* > 0``.
    etabar : float
        The rate.
    init : float, optional
        ``sbar(0)``, as in :func:`half_max_time`.

    Returns
    -------
    float
    """
    p = float(p)
    if init is None:
        if p >= 1:
            raise ValueError(f"p = {p:g} >= 1: zero is a fixed point; give init > 0")
        u0 = 0.0
    else:
        u0 = float(init) / float(target)
        if not 0 < u0 < 0.5:
            raise ValueError("init must lie strictly between 0 and target/2")

    if u0 == 0:  # p < 1: integrable singularity at 0, closed form through 2F1
        integral = mpmath.mpf(0.5) ** (1 - p) / (1 - p) * mpmath.hyp2f1(1, 1 - p, 2 - p, 0.5)
    else:  # smooth integrand on [u0, 1/2]; 2F1 has a pole at integer p >= 2, so integrate
        integral = mpmath.quad(lambda u: u ** (-p) / (1 - u), [u0, 0.5])
    return float(float(target) ** (-p) * integral / etabar)


def escape_exponent(d: int, q: float) -> sp.Expr:
    """Near zero (p < 1), ``sbar(t) ~ ((1 - p) etabar s* t)^{1/(1-p)}``: growth exponent.

    Parameters
    ----------
    d : int
        Depth.
    q : float
        Curvature order.

    Returns
    -------
    sympy.Expr
        ``1 / (1 - p)``.

    Raises
    ------
    ValueError
        For ``p >= 1`` (no finite-time escape).
    """
    p = exponent(d, q)
    if p >= 1:
        raise ValueError("no finite-time escape for p >= 1")
    return sp.simplify(1 / (1 - p))


# the singular-mode rules' velocities and conservation laws, the Gauss-Newton-norm identity
from dlnsim.symbolic.laws import (  # noqa: E402 (they use the helpers above)
    conservation_derivative,
    conserved_quantity,
    gn_norm_identity,
    map_dynamics_balanced,
    mode_velocity,
)

__all__ = ["calibrated_rate", "closed_form", "conservation_derivative", "conserved_quantity",
           "effective_depth", "escape_exponent", "exponent", "gn_norm_identity",
           "half_max_time", "half_max_time_exponent", "implicit_residual",
           "implicit_time", "implicit_time_hyper", "map_dynamics_balanced", "map_rhs",
           "mode_velocity", "ode_residual", "table1"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__ + ["canon", "laws", "t", "s", "s0", "s_star", "eta", "d_sym", "q_sym"])
