"""Matrix-free fractional powers of the map-space kernel K for large widths.

``(K + eps I)^{-1/q} b`` without forming K (each product ``K(X)`` costs O(d n^3)):

* ``q = 1``: preconditioned conjugate gradients on ``(K + eps I) y = b``;
* ``q > 1``: the Balakrishnan integral
  ``A^{-1/q} = sin(pi/q)/pi * int_0^inf t^{-1/q} (A + t I)^{-1} dt``, written as
  ``f(K_b) b + sum_j w_j [(K + eps + t_j)^{-1} b - (K_b + eps + t_j)^{-1} b]`` with trapezoid
  nodes ``t_j = e^{x_j}``. ``K_b`` is the balanced kernel of the current map
  (:func:`dlnsim.curvature.batched.balanced_svd`): diagonal in the SVD basis of the map, so
  its fractional power and every shifted inverse are exact and cheap. Only the difference
  ``K - K_b`` goes through the quadrature, and each shifted system is solved by CG
  preconditioned with
  ``K_b + eps + t_j``, started from ``(K_b + eps + t_j)^{-1} b``. Networks trained from small
  initialisation stay nearly balanced (Huh, Theorem 1), where both converge in a few steps.

Accuracy: the trapezoid rule in ``x = log t`` has error ``~exp(-2 pi^2 / h)`` (the integrand's
poles sit at ``Im x = pi``) and the tails are cut where they fall below the target; both are
chosen from ``tol`` relative to the size of the correction, measured on a coarse pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlnsim.curvature import batched
from dlnsim.curvature.kernel import map_kernel
from dlnsim.curvature.spectral import DEFAULT_RCOND, check_spectral
from dlnsim.network import Network


class NotConverged(ArithmeticError):
    """A Krylov solve missed its tolerance within the iteration cap."""


@dataclass(frozen=True)
class KrylovInfo:
    """What a Krylov computation did: shifts, total CG iterations, matvecs, residual."""

    shifts: int
    iterations: int
    matvecs: int
    residual: float


def _pcg(matvec, b, precond, x0, tol, maxiter):
    """Preconditioned CG for SPD ``A x = b`` from ``x0``; stops at ``||r|| <= tol``."""
    x = x0.copy()
    r = b - matvec(x)
    z = precond(r)
    p = z.copy()
    rz = float(np.vdot(r, z))
    n_mv = 1
    for it in range(maxiter + 1):
        res = float(np.linalg.norm(r))
        if res <= tol:
            return x, it, n_mv, res
        if it == maxiter:
            break
        ap = matvec(p)
        n_mv += 1
        alpha = rz / float(np.vdot(p, ap))
        x += alpha * p
        r -= alpha * ap
        z = precond(r)
        rz_new = float(np.vdot(r, z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    raise NotConverged(f"CG did not reach residual {tol:.2e} in {maxiter} iterations "
                       f"(residual {res:.2e}); the network is far from balanced or K is "
                       "ill-conditioned: add damping or use path='dense'")


def inverse_power(net: Network, b: np.ndarray, q: float, damping: float = 0.0,
                  tol: float = 1e-10, maxiter: int = 200,
                  rcond: float = DEFAULT_RCOND) -> tuple[np.ndarray, KrylovInfo]:
    """``(K + eps I)^{-1/q} b`` for whitened inputs, matrix-free, relative accuracy ~``tol``.

    Needs ``eps > 0`` or a map whose balanced kernel has no (near-)zero eigenvalue: the integral
    and CG have no pseudo-inverse. Raises :class:`NotConverged` when a solve misses ``tol``.
    """
    q, damping, rcond = check_spectral(q, damping, rcond)
    if math.isinf(q):
        return np.array(b, dtype=float), KrylovInfo(0, 0, 0, 0.0)
    kernel = map_kernel(net)
    u, v, lam_b = batched.balanced_svd(net.map, net.depth)
    if damping == 0 and lam_b.min() <= rcond * lam_b.max():
        raise ValueError("the Krylov path needs damping > 0 or a full-rank map (K is singular "
                         "here and CG has no pseudo-inverse); use path='dense'")
    lam = lam_b + damping
    # Work in the SVD basis of the map, where every preconditioner is a diagonal scaling.
    left = [u.T @ l @ u for l in kernel.left]
    right = [v.T @ m @ v for m in kernel.right]
    b = u.T @ np.asarray(b, dtype=float) @ v
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0:
        return np.zeros_like(b), KrylovInfo(0, 0, 0, 0.0)

    def back(x):
        return u @ x @ v.T

    def shifted(t):
        return lambda x: sum(l @ x @ m for l, m in zip(left, right)) + (damping + t) * x

    if q == 1:
        x0 = b / lam
        # ||y - y*|| <= ||r|| / lambda_min(K + eps): ask for tol relative to ||y|| ~ ||x0||
        y, its, mvs, res = _pcg(shifted(0.0), b, lambda r: r / lam, x0,
                                tol * float(np.linalg.norm(x0)) * lam.min(), maxiter)
        return back(y), KrylovInfo(1, its, mvs, res / bnorm)

    main = b * lam ** (-1 / q)
    main_norm = float(np.linalg.norm(main))
    c = math.sin(math.pi / q) / math.pi
    lo, hi = math.log(lam.min()), math.log(lam.max())

    def correction(h, tail, budget):
        """Quadrature of the K - K_b correction with absolute error budget ``budget``."""
        # nodes x = log t in [lo - tail/(1 - 1/q), hi + q tail]: the integrand decays like
        # e^{(1-1/q)(x - lo)} on the left and e^{-(x - hi)/q} on the right
        xs = np.arange(lo - tail / (1 - 1 / q), hi + q * tail + h, h)
        total, its, mvs, res = np.zeros_like(b), 0, 0, 0.0
        for x in xs:
            t = math.exp(x)
            w = c * h * math.exp(x * (1 - 1 / q))
            z = b / (lam + t)
            # the node's error is <= w ||r|| / (lambda_min + t); share the budget evenly
            r_tol = budget * (lam.min() + t) / (w * len(xs))
            y, k, m, r = _pcg(shifted(t), b, lambda r, t=t: r / (lam + t), z, r_tol, maxiter)
            total += w * (y - z)
            its, mvs, res = its + k, mvs + m, max(res, r / bnorm)
        return total, len(xs), its, mvs, res

    # coarse pass: how large is the correction relative to the balanced part?
    coarse, n0, i0, m0, _ = correction(2.0, math.log(1e4), 1e-6 * main_norm)
    rel = float(np.linalg.norm(coarse)) / max(main_norm, 1e-300)
    if rel <= tol:
        return back(main + coarse), KrylovInfo(n0, i0, m0, rel)
    need = tol / rel  # relative accuracy the correction needs
    tail = math.log(1 / need) + 4.0  # margin for the constants of both error terms
    h = min(2.0, 2 * math.pi**2 / tail)
    fine, n1, i1, m1, r1 = correction(h, tail, tol * main_norm)
    return back(main + fine), KrylovInfo(n0 + n1, i0 + i1, m0 + m1, r1)
