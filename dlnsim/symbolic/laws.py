"""Symbolic laws of the singular-mode rules (Huh 2020, eqs 12, 15, 20, 21, footnote 4), the
balanced map dynamics they imply (eqs 16-17), and the Gauss-Newton-norm identity (Zhang et al.
2019, Theorem 1), derived or checked by differentiation, independently of the integrators.
"""

from __future__ import annotations

import sympy as sp

from dlnsim.symbolic import _q, calibrated_rate, exponent, s, s_star


# -- conservation laws of the singular-mode rules ---------------------------------------------
def _mode_symbols(d: int):
    sig = sp.symbols(f"sigma1:{d + 1}", positive=True)
    sbar = sp.Mul(*sig)
    j = [sp.Mul(*[sig[k] for k in range(d) if k != i]) for i in range(d)]
    return sig, sbar, j


def mode_velocity(d: int, q, block_diagonal: bool) -> tuple:
    """Symbolic eqs 12 and 20/21 (unit rate, ``sigma_i > 0``): ``(sigma, sigma_dot)``.

    Parameters
    ----------
    d : int
        Depth.
    q : number or sympy.Expr
        Curvature order.
    block_diagonal : bool
        NGD-d (eqs 20, 21) instead of eq 12.

    Returns
    -------
    tuple
        ``(sigma, sigma_dot)``: the symbols and their velocities.
    """
    qq = _q(q)
    sig, sbar, j = _mode_symbols(d)
    sd = sbar - s_star
    if qq is sp.oo:
        return sig, [-sd * ji for ji in j]
    if block_diagonal:
        return sig, [-d ** (-1 / qq) * sd * ji * (ji**2) ** (-1 / qq) for ji in j]
    nj2 = sum(ji**2 for ji in j)
    return sig, [-sd * ji * nj2 ** (-1 / qq) for ji in j]


def conserved_quantity(kind: str, a, b, q=None) -> sp.Expr:
    """The constants of motion: hyperbolic (eq 6), ratio (NGD-d), difference (sqrt-NGD-d) and
    the power difference of footnote 4 for q-NGD-d.

    Parameters
    ----------
    kind : str
        ``"hyperbolic"``, ``"ratio"``, ``"difference"`` or ``"power"``.
    a, b : sympy.Expr
        Two layers' strengths.
    q : number, optional
        The order, for ``"power"``.

    Returns
    -------
    sympy.Expr
    """
    if kind == "hyperbolic":
        return a**2 - b**2
    if kind == "ratio":
        return a / b
    if kind == "difference":
        return a - b
    if kind == "power":
        e = 2 * (1 - 1 / _q(q))
        return a**e - b**e
    raise ValueError(f"unknown kind {kind!r}")


def conservation_derivative(kind: str, d: int, q, block_diagonal: bool) -> sp.Expr:
    """``d/dt`` of the conserved quantity of layers 1, 2 along the rule, simplified.

    Parameters
    ----------
    kind : str
        As in :func:`conserved_quantity`.
    d : int
        Depth.
    q : number or sympy.Expr
        Curvature order.
    block_diagonal : bool
        NGD-d instead of full q-NGD.

    Returns
    -------
    sympy.Expr
        0 when the quantity is conserved.
    """
    sig, vel = mode_velocity(d, q, block_diagonal)
    c = conserved_quantity(kind, sig[0], sig[1], q)
    rate = sum(sp.diff(c, si) * vi for si, vi in zip(sig, vel))
    return sp.simplify(sp.powsimp(sp.expand_power_base(rate, force=True), force=True))


def map_dynamics_balanced(d: int, q) -> sp.Expr:
    """Eq 16 at balance minus eq 17: ``sum_i sigma_dot_i j_i`` with ``sigma_i = sbar^{1/d}``,
    minus ``-etabar (sbar - s*) sbar^p`` at ``lr = 1``; simplifies to 0.

    Parameters
    ----------
    d : int
        Depth.
    q : number or sympy.Expr
        Curvature order.

    Returns
    -------
    sympy.Expr
    """
    sig, vel = mode_velocity(d, q, False)
    _, _, j = _mode_symbols(d)
    rate = sum(v * ji for v, ji in zip(vel, j))
    bal = {si: s ** sp.Rational(1, d) for si in sig}
    eq17 = -calibrated_rate(d, q) * (s - s_star) * s ** exponent(d, q)
    return sp.simplify(sp.powsimp(rate.subs(bal) - eq17, force=True))


# -- Gauss-Newton norms on small symbolic networks (Zhang et al.) -----------------------------
def gn_norm_identity(widths=(2, 2, 2)) -> tuple[sp.Expr, sp.Expr]:
    """``theta^T G theta - d^2 ||W||_F^2`` and ``theta^T G_KFAC theta - d ||W||_F^2`` for a
    symbolic network with whitened inputs; both expand to 0 (Theorem 1).

    Parameters
    ----------
    widths : sequence of int
        The symbolic network's widths (small: the expansion grows fast).

    Returns
    -------
    tuple of sympy.Expr
    """
    d = len(widths) - 1
    ws = [sp.Matrix(widths[i + 1], widths[i], lambda r, c, i=i: sp.Symbol(f"w{i}_{r}{c}"))
          for i in range(d)]

    def prod(ms, n):
        out = sp.eye(n)
        for m in ms:
            out = m * out
        return out

    W = prod(ws, widths[0])
    # J(theta) = sum_i W_{>i} w_i W_{<i}; ||J theta||^2 is the GN quadratic form (S = I)
    jt = sp.zeros(*W.shape)
    kfac = 0
    for i in range(d):
        above = prod(ws[i + 1:], widths[i + 1])
        below = prod(ws[:i], widths[0])
        term = above * ws[i] * below
        jt += term
        kfac += sum(x**2 for x in term)  # vec(w_i)^T H_i vec(w_i) = ||W_{>i} w_i W_{<i}||^2
    w2 = sum(x**2 for x in W)
    return sp.expand(sum(x**2 for x in jt) - d**2 * w2), sp.expand(kfac - d * w2)
