"""The numbers behind a phase portrait of any rule: the plane, the field on it, the
conservation law, fixed points and trajectories (no drawing here; :mod:`.portraits` draws).

Two planes of the singular-mode dynamics (Huh 2020, eqs 5, 12, 20, 21) at depth ``d``:

* ``layers``: one mode, the strengths ``(sigma_a, sigma_b)`` of two of its layers. At ``d = 2``
  this is the whole state; at ``d > 2`` the other layers are held at their starting values for
  the field drawn (a slice), while the trajectories are the real ``d``-dimensional runs,
  projected.
* ``modes``: two modes ``(i, j)`` of a balanced network, their map strengths ``(sbar_i,
  sbar_j)`` (eq 16: ``dsbar/dt = sum_l sigma_dot_l j_l``). Balance is kept by every rule of
  gd, ngd (full or block, any q, damping), l2, weight decay and clip, because each treats the
  layers of a balanced mode alike, so the plane is invariant and the field on it exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlnsim import _validate as V
from dlnsim import modes
from dlnsim import rules as R


@dataclass(frozen=True, eq=False)
class Law:
    """A constant of motion of two layers of a mode, or why there is none on this plot.

    ``fn(a, b)`` takes the two layers' strengths; ``label`` is its LaTeX form; ``note`` says
    where it comes from, or why the plot shows none."""

    fn: Callable | None
    label: str
    note: str


def conservation_law(rule: R.Rule, layers: tuple[int, int] = (0, 1)) -> Law:
    """The constant of motion of layers ``a, b`` under ``rule``, at any depth.

    Full q-NGD (and GD) move ``sigma_dot_l = -c j_l`` with one scalar ``c`` per mode (damping
    included), so ``sigma_a^2 - sigma_b^2`` is conserved (eq 15). Block q-NGD-d without damping
    conserves ``|sigma_a|^{2(1-1/q)} - |sigma_b|^{2(1-1/q)}`` (footnote 4; ``log|sigma_a/
    sigma_b|`` at q = 1, eq 20). Clipping rescales the whole field by a positive scalar, which
    reparametrises time and keeps every constant. L2 and weight decay break them, and damped
    NGD-d has no closed-form constant.
    """
    p = R.parts(rule)
    a, b = (f"\\sigma_{layers[0] + 1}", f"\\sigma_{layers[1] + 1}")
    if p.unknown:
        return Law(None, "", f"no conservation law known for {', '.join(p.unknown)}")
    if p.l2 or p.weight_decay:
        what = "weight decay" if p.weight_decay else "L2"
        return Law(None, "", f"nothing conserved: {what} breaks eq 15 (the imbalance decays)")
    if not p.block_diagonal or math.isinf(p.q):
        return Law(lambda x, y: x**2 - y**2, f"${a}^2-{b}^2$",
                   "conserved by full q-NGD and GD (eq 15)")
    if p.damping:
        return Law(None, "", "damped NGD-d: no closed-form constant of motion")
    if p.q == 1:
        return Law(lambda x, y: np.log(np.abs(x)) - np.log(np.abs(y)), f"$\\log|{a}/{b}|$",
                   "conserved by NGD-d (eq 20)")
    e = 2 * (1 - 1 / p.q)
    power = "" if e == 1 else f"^{{{e:g}}}"
    return Law(lambda x, y: np.abs(x) ** e - np.abs(y) ** e,
               f"$|{a}|{power}-|{b}|{power}$", "conserved by q-NGD-d (footnote 4)")


@dataclass(frozen=True, eq=False)
class Plane:
    """A phase plane: ``kind`` ``"layers"`` or ``"modes"``, the plotted indices, the depth,
    the per-mode targets and ``held`` (the state the field is drawn at, shape (modes, d))."""

    kind: str
    axes: tuple[int, int]
    depth: int
    target: np.ndarray
    held: np.ndarray

    def states(self, xy: np.ndarray) -> np.ndarray:
        """Mode states (N, modes, d) at plane points ``xy`` (N, 2)."""
        s = np.repeat(self.held[None], len(xy), axis=0)
        if self.kind == "layers":
            s[:, 0, self.axes[0]] = xy[:, 0]
            s[:, 0, self.axes[1]] = xy[:, 1]
        else:
            for c, k in enumerate(self.axes):
                s[:, k, :] = balanced(xy[:, c], self.depth)
        return s

    def project(self, sigma: np.ndarray) -> np.ndarray:
        """Plane coordinates (..., 2) of mode states (..., modes, d)."""
        if self.kind == "layers":
            return sigma[..., 0, list(self.axes)]
        return np.prod(sigma, axis=-1)[..., list(self.axes)]

    def velocity(self, xy: np.ndarray, rule: R.Rule, lr: float) -> np.ndarray:
        """The plotted field at ``xy``: layer velocities, or map velocities by eq 16."""
        s = self.states(xy)
        v = lr * modes.velocity(s, self.target, rule=rule)
        if self.kind == "layers":
            return v[:, 0, list(self.axes)]
        return np.sum(v * modes.jacobian(s), axis=-1)[:, list(self.axes)]

    def manifold(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Zero on the optimal manifold (``sigma_Delta = 0`` of the plotted mode(s))."""
        if self.kind == "layers":
            others = np.prod(np.delete(self.held[0], list(self.axes)))
            return x * y * others - self.target[0]
        return (x - self.target[self.axes[0]]) * (y - self.target[self.axes[1]])


def balanced(sbar, depth: int) -> np.ndarray:
    """Balanced layer strengths of map strengths ``sbar``: ``|sigma_l| = |sbar|^{1/d}``, the
    sign carried by the first layer; shape (..., d)."""
    sbar = np.asarray(sbar, dtype=float)
    mag = np.abs(sbar) ** (1.0 / depth)
    out = np.repeat(mag[..., None], depth, axis=-1)
    out[..., 0] *= np.where(sbar < 0, -1.0, 1.0)
    return out


def make_plane(depth, modes_, layers, target, starts=None) -> tuple[Plane, np.ndarray]:
    """Validate the plane's arguments; return it and the starts as plane states (S, m, d).

    Default start: ``(0.12, 1.6)`` on a plane of layers (others at 1), near the saddle
    (``0.02 s*`` for each plotted mode) on a plane of modes."""
    depth = V.positive_int(depth, "depth")
    if starts is not None:
        starts = list(starts)
        if not starts:
            raise ValueError("starts must hold at least one start")
    if modes_ is None:
        if depth < 2:
            raise ValueError("depth must be >= 2 for a plane of two layers (give modes=(i, j) "
                             "for a plane of two modes)")
        axes = _pair(layers, "layers", depth)
        s_star = V.real(target, "target")
        if s_star == 0:
            raise ValueError("target must be nonzero")
        tgt = np.array([s_star])
        states = []
        starts = [(0.12, 1.6)] if starts is None else starts
        for k, st in enumerate(starts):
            st = V.real_array(st, f"start[{k}]").ravel()
            if st.size == 2:
                full = np.ones(depth)
                full[list(axes)] = st
                st = full
            if st.size != depth:
                raise ValueError(f"start[{k}] must have 2 or depth = {depth} entries, got "
                                 f"{st.size}")
            states.append(st[None])
        plane = Plane("layers", axes, depth, tgt, states[0].copy())
        return plane, np.array(states)
    tgt = np.atleast_1d(V.real_array(target, "target")).ravel()
    if tgt.size == 1:
        tgt = np.full(max(_pair(modes_, "modes", None)) + 1, float(tgt[0]))
    axes = _pair(modes_, "modes", tgt.size)
    if np.any(tgt == 0):
        raise ValueError("target must be nonzero for every mode")
    held = balanced(tgt, depth)  # modes not shown sit at their optimum
    plane = Plane("modes", axes, depth, tgt, held)
    states = []
    starts = [0.02 * tgt[list(axes)]] if starts is None else starts
    for k, st in enumerate(starts):
        st = V.real_array(st, f"start[{k}]").ravel()
        if st.size != 2:
            raise ValueError(f"start[{k}] must be (sbar_i, sbar_j) on a plane of modes, got "
                             f"{st.size} entries")
        states.append(plane.states(st[None])[0])
    return plane, np.array(states)


def _pair(x, name: str, n: int | None) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be two integers (i, j), got {x!r}") from None
    if a == b or min(a, b) < 0 or (n is not None and max(a, b) >= n):
        bound = f" below {n}" if n is not None else ""
        raise ValueError(f"{name} must be two different indices >= 0{bound}, got {x!r}")
    return a, b


def fixed_points(plane: Plane, rule: R.Rule, lim: float) -> np.ndarray:
    """Isolated fixed points of the plotted field inside the box ``|x|, |y| <= lim``.

    Modes plane: the products of each mode's zeros of its 1-D map field (modes move
    independently; clipping rescales the field, keeping its zeros). Layers plane at depth 2:
    roots of the field from a grid of seeds (scipy), the optimal manifold excluded (it is drawn
    as a curve). At depth > 2 the slice has none that are fixed points of the run: none.
    """
    from scipy.optimize import brentq, root

    if plane.kind == "modes":
        zeros = []
        for k in plane.axes:
            def f(x, k=k):  # mode k's map velocity alone, at balance (eq 16)
                sig = balanced(np.array([x]), plane.depth)[None]
                v = modes.velocity(sig, plane.target[[k]], rule=rule)
                return float(np.sum(v * modes.jacobian(sig)))

            grid = np.linspace(-lim, lim, 801)  # holds 0 exactly
            vals = np.array([f(x) for x in grid])
            zk = [float(x) for x, v in zip(grid, vals) if v == 0]
            for x0, x1, v0, v1 in zip(grid[:-1], grid[1:], vals[:-1], vals[1:]):
                if v0 * v1 < 0:
                    zk.append(brentq(f, x0, x1, xtol=1e-14))
            zeros.append(_unique(np.array(zk).reshape(-1, 1))[:, 0])
        return np.array([(x, y) for x in zeros[0] for y in zeros[1]]).reshape(-1, 2)
    if plane.depth > 2:
        return np.zeros((0, 2))
    found = [np.zeros(2)]  # j = 0: every rule here has zero velocity at the origin
    for x0 in np.linspace(-lim, lim, 7):
        for y0 in np.linspace(-lim, lim, 7):
            sol = root(lambda p: plane.velocity(p[None], rule, 1.0)[0], [x0, y0], tol=1e-13)
            p = sol.x
            if sol.success and np.all(np.abs(p) <= lim) and \
                    np.linalg.norm(plane.velocity(p[None], rule, 1.0)) < 1e-10 and \
                    abs(plane.manifold(p[0], p[1])) > 1e-6:
                found.append(p)
    return _unique(np.array(found))


def _unique(points: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    out: list = []
    for p in points:
        if all(np.max(np.abs(p - q)) > tol for q in out):
            out.append(p)
    return np.array(out).reshape(-1, points.shape[1] if points.ndim == 2 else 1)


__all__ = ["Law", "Plane", "balanced", "conservation_law", "fixed_points", "make_plane"]
