"""Hypothesis strategies for deep linear networks, tasks, rules and singular modes.

In the manner of ``hypothesis.extra.numpy``: each function returns a ``SearchStrategy``.
Drawn cases stay well conditioned unless asked: every layer's nonzero singular values lie
within a factor ``condition`` of each other (so the Gauss-Newton kernel's condition number is
bounded by about ``condition^(2(d-1))`` times that of ``S``), input covariances have condition
number at most ``condition``, and mode strengths stay at least ``low`` away from zero. Shrinking
goes towards small, readable counterexamples: depth and widths towards their minimum, singular
values towards equal ones (``scale``), covariances towards the identity, q towards 1, the
optional transforms towards absent.

Arguments that take a range accept a number (fixed), a ``(low, high)`` pair, or a strategy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("dlnsim.testing's strategies need hypothesis: pip install "
                      "'dlnsim[test]' (or pip install hypothesis)") from exc
import numpy as np

from dlnsim import rules as R
from dlnsim.network import Network
from dlnsim.task import Task


def _ints(x, name: str, low: int) -> st.SearchStrategy:
    if isinstance(x, st.SearchStrategy):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        if x < low:
            raise ValueError(f"{name} must be >= {low}, got {x}")
        return st.just(int(x))
    try:
        lo, hi = (int(v) for v in x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an integer, a (low, high) pair or a strategy, got "
                        f"{x!r}") from None
    if not low <= lo <= hi:
        raise ValueError(f"{name} must satisfy {low} <= low <= high, got {x!r}")
    return st.integers(lo, hi)


def _floats(x, name: str, low: float = 0.0, strict: bool = True) -> st.SearchStrategy:
    if isinstance(x, st.SearchStrategy):
        return x
    if isinstance(x, (int, float, np.floating)) and not isinstance(x, bool):
        x = (float(x), float(x))
    try:
        lo, hi = (float(v) for v in x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, a (low, high) pair or a strategy, got "
                        f"{x!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or lo < low or (
            strict and lo <= low):
        raise ValueError(f"{name} must be finite with {low:g} {'<' if strict else '<='} low "
                         f"<= high, got {x!r}")
    return st.just(lo) if lo == hi else st.floats(lo, hi)


def _condition(condition: float) -> float:
    c = float(condition)
    if not (math.isfinite(c) and c >= 1):
        raise ValueError(f"condition must be a finite number >= 1, got {condition!r}")
    return c


def _spectrum(draw, n: int, top: float, condition: float) -> np.ndarray:
    """``n`` values in ``[top / condition, top]``, shrinking towards all equal to ``top``."""
    u = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    return top * condition ** (-np.asarray(u, dtype=float))


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@st.composite
def widths(draw, depth=(1, 4), min_width: int = 1, max_width: int = 5) -> tuple[int, ...]:
    """``(n_0, ..., n_d)``: rectangular, with bottlenecks, shrinking towards narrow."""
    d = draw(_ints(depth, "depth", 1))
    if not 1 <= min_width <= max_width:
        raise ValueError(f"need 1 <= min_width <= max_width, got {min_width}, {max_width}")
    return tuple(draw(st.lists(st.integers(min_width, max_width), min_size=d + 1,
                               max_size=d + 1)))


_widths = widths  # networks() takes an argument of that name


@st.composite
def networks(draw, depth=(1, 4), widths=None, scale=(0.1, 1.0), balanced: bool = False,
             aligned: bool = False, condition: float = 10.0,
             max_width: int = 5) -> Network:
    """Networks ``w_i = U_{i+1} diag(s_i) V_i^T`` with spectra in ``[scale / condition, scale]``.

    ``aligned``: consecutive layers share singular vectors (``V_{i+1} = U_{i+1}``), a
    singular-mode configuration. ``balanced`` (implies aligned): every layer has the same
    ``r = min(widths)`` singular values, so all ``c_i = w_i w_i^T - w_{i+1}^T w_{i+1} = 0``
    (eq 15). ``scale=1e-3`` draws near-saddle networks. ``widths`` fixes the widths (then
    ``depth`` is ignored).
    """
    cond = _condition(condition)
    if widths is None:
        ws = draw(_widths(depth, 1, max_width))
    elif isinstance(widths, st.SearchStrategy):
        ws = tuple(draw(widths))
    else:
        ws = tuple(int(n) for n in widths)
    if len(ws) < 2 or min(ws) < 1:
        raise ValueError(f"widths must hold at least two integers >= 1, got {ws!r}")
    d = len(ws) - 1
    top = draw(_floats(scale, "scale"))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bases = [_orthogonal(rng, n) for n in ws]
    if balanced:
        r = min(ws)
        s = _spectrum(draw, r, top, cond)
        layers = [(bases[i + 1][:, :r] * s) @ bases[i][:, :r].T for i in range(d)]
    else:
        layers = []
        for i in range(d):
            r = min(ws[i], ws[i + 1])
            s = _spectrum(draw, r, top, cond)
            right = bases[i] if aligned else _orthogonal(rng, ws[i])
            layers.append((bases[i + 1][:, :r] * s) @ right[:, :r].T)
    return Network(layers)


@st.composite
def input_covariances(draw, n=(1, 5), condition: float = 10.0) -> np.ndarray:
    """SPD ``S = Q diag(l) Q^T``, ``l`` in ``[1 / condition, 1]``; shrinks towards ``I``."""
    size = draw(_ints(n, "n", 1))
    lam = _spectrum(draw, size, 1.0, _condition(condition))
    q = _orthogonal(np.random.default_rng(draw(st.integers(0, 2**32 - 1))), size)
    return (q * lam) @ q.T


@st.composite
def tasks(draw, n_in=(1, 5), n_out=(1, 5), target_scale=(0.5, 2.0), condition: float = 10.0,
          whitened: bool | None = None) -> Task:
    """``Task(target, input_cov)``: a target with spectrum in ``[target_scale / condition,
    target_scale]`` and an input covariance from :func:`input_covariances` (the identity when
    ``whitened``; drawn either way when None)."""
    a, b = draw(_ints(n_in, "n_in", 1)), draw(_ints(n_out, "n_out", 1))
    cond = _condition(condition)
    top = draw(_floats(target_scale, "target_scale"))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    r = min(a, b)
    target = (_orthogonal(rng, b)[:, :r] * _spectrum(draw, r, top, cond)) \
        @ _orthogonal(rng, a)[:, :r].T
    white = draw(st.booleans()) if whitened is None else bool(whitened)
    cov = None if white else draw(input_covariances(a, cond))
    return Task(target, cov)


@st.composite
def networks_and_tasks(draw, whitened: bool | None = None, **network_kw) -> tuple:
    """A network and a task of matching shape: ``(net, task)``; ``network_kw`` as in
    :func:`networks`, the task drawn with the network's ``condition``."""
    net = draw(networks(**network_kw))
    cond = network_kw.get("condition", 10.0)
    task = draw(tasks(net.widths[0], net.widths[-1], condition=cond, whitened=whitened))
    return net, task


@dataclass(frozen=True)
class AlignedCase:
    """A network aligned with its task's SVD (Huh 2020, footnote 1) and its singular modes:
    ``network``'s mode ``k`` has layer strengths ``sigma[k]`` and target ``s_star[k]``."""

    network: Network
    task: Task
    sigma: np.ndarray
    s_star: np.ndarray


@st.composite
def mode_strengths(draw, modes=(1, 3), depth=(1, 4), low: float = 0.05, high: float = 2.0,
                   signed: bool = False, with_target: bool = False):
    """Singular-mode strengths ``sigma`` of shape ``(modes, d)``, ``low <= |sigma| <= high``
    (negative too when ``signed``); with ``with_target`` also ``s*`` in ``[0.5, 2]`` per mode,
    as ``(sigma, s_star)``."""
    m, d = draw(_ints(modes, "modes", 1)), draw(_ints(depth, "depth", 1))
    if not 0 < low <= high < math.inf:
        raise ValueError(f"need 0 < low <= high < inf, got {low!r}, {high!r}")
    mag = draw(st.lists(st.floats(low, high), min_size=m * d, max_size=m * d))
    sign = draw(st.lists(st.sampled_from([1.0, -1.0]), min_size=m * d, max_size=m * d)) \
        if signed else [1.0] * (m * d)
    sigma = (np.asarray(mag) * np.asarray(sign)).reshape(m, d)
    if not with_target:
        return sigma
    s_star = np.asarray(draw(st.lists(st.floats(0.5, 2.0), min_size=m, max_size=m)))
    return sigma, s_star


@st.composite
def aligned_networks(draw, modes=(1, 3), depth=(1, 4), balanced: bool = False,
                     low: float = 0.05, high: float = 2.0, signed: bool = False,
                     extra_width=(0, 2)) -> AlignedCase:
    """Singular-mode initialisations as full networks (:meth:`dlnsim.Network.aligned`).

    Widths are ``m`` plus 0-2 (``extra_width``) per layer; ``balanced`` makes every layer of a
    mode equal (``|sigma| = |sbar|^{1/d}``). The task is whitened (``S = I``), where the
    full-matrix dynamics of every rule reduce exactly to :func:`dlnsim.modes.simulate`.
    """
    sigma, s_star = draw(mode_strengths(modes, depth, low, high, signed, with_target=True))
    order = np.argsort(-s_star, kind="stable")  # Network.aligned pairs mode k with the
    sigma, s_star = sigma[order], s_star[order]  # target's k-th largest singular value
    m, d = sigma.shape
    if balanced:
        sbar = np.prod(sigma, axis=1)
        sigma = np.repeat((np.abs(sbar) ** (1.0 / d))[:, None], d, axis=1)
        sigma[:, 0] *= np.where(sbar < 0, -1.0, 1.0)
    ws = tuple(m + draw(_ints(extra_width, "extra_width", 0)) for _ in range(d + 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    u, v = _orthogonal(rng, ws[-1]), _orthogonal(rng, ws[0])
    target = (u[:, :m] * s_star) @ v[:, :m].T
    net = Network.aligned(target, sigma, widths=ws, seed=int(rng.integers(2**31)))
    return AlignedCase(net, Task(target), sigma, s_star)


@st.composite
def lambda_balanced_networks(draw, widths=None, lam=(-0.5, 1.0), scale=(0.1, 1.0),
                             max_width: int = 5) -> Network:
    """Depth-2 networks with ``c_1 = w_1 w_1^T - w_2^T w_2 = lam I`` exactly (up to
    round-off): ``w_2`` drawn, then ``w_1 = (w_2^T w_2 + lam I)^{1/2} O^T`` with ``O`` of
    orthonormal columns, not aligned with anything. ``lam`` is clipped from below so that
    ``w_2^T w_2 + lam I`` stays positive semi-definite (``lam >= 0`` when ``n_1 > n_2``);
    ``widths`` ``(n_0, n_1, n_2)`` needs ``n_1 <= n_0``. The start of
    :func:`dlnsim.symbolic.canon.lambda_balanced_depth2`.
    """
    if widths is None:
        n1 = draw(st.integers(1, max_width))
        ws = (draw(st.integers(n1, max_width + 1)), n1, draw(st.integers(1, max_width + 1)))
    else:
        ws = tuple(int(n) for n in (draw(widths) if isinstance(widths, st.SearchStrategy)
                                    else widths))
    if len(ws) != 3 or min(ws) < 1 or ws[1] > ws[0]:
        raise ValueError(f"widths must be (n_0, n_1, n_2) with 1 <= n_1 <= n_0, got {ws!r}")
    n0, n1, n2 = ws
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w2 = draw(_floats(scale, "scale")) * rng.standard_normal((n2, n1))
    gram = w2.T @ w2
    low = -float(np.linalg.eigvalsh(gram).min()) if n1 <= n2 else 0.0
    value = max(draw(_floats(lam, "lam", low=-math.inf, strict=False)), 0.9 * low)
    evals, vecs = np.linalg.eigh(gram + value * np.eye(n1))
    root = (vecs * np.sqrt(np.clip(evals, 0.0, None))) @ vecs.T
    return Network([root @ _orthogonal(rng, n0)[:, :n1].T, w2])


@st.composite
def rules(draw, kinds=("gd", "ngd", "ngd-d"), q=None, damping=(1e-6, 1e-3), l2=(0.0, 0.3),
          weight_decay=(0.0, 0.3), clip=(0.5, 5.0), optional: bool = True) -> R.Rule:
    """Chains of the core rules: ``l2 -> {gd, ngd(q), ngd-d(q)} -> clip -> weight_decay``.

    ``q`` defaults to 1, 2, 3 or a float in ``[1, 4]``; ``damping`` is 0 or drawn from its
    range, by default ``[1e-6, 1e-3]``: a damping far below the curvature's round-off (say
    1e-70) multiplies that round-off by ``eps^{-1/q}`` in any float64 reference, so it is not
    drawn unless asked for. Each of l2, clip and weight decay is present or not
    (``optional``; shrinking drops them). Pass ``None`` for one of them to leave it out.
    """
    bad = set(kinds) - {"gd", "ngd", "ngd-d"}
    if not kinds or bad:
        raise ValueError(f"kinds must be a non-empty subset of ('gd', 'ngd', 'ngd-d'), got "
                         f"{kinds!r}")
    kind = draw(st.sampled_from(tuple(kinds)))
    parts = []
    if kind == "gd":
        parts.append(R.gd())
    else:
        qs = st.one_of(st.sampled_from([1.0, 2.0, 3.0]), st.floats(1.0, 4.0)) if q is None \
            else _floats(q, "q", 1.0, strict=False)
        eps = 0.0
        if damping is not None:
            eps = draw(st.one_of(st.just(0.0), _floats(damping, "damping", 0.0, False)))
        parts.append(R.ngd(draw(qs), damping=eps, block_diagonal=kind == "ngd-d"))
    for make, value, name in ((R.l2, l2, "l2"), (R.clip, clip, "clip"),
                              (R.weight_decay, weight_decay, "weight_decay")):
        if value is None or (optional and not draw(st.booleans())):
            continue
        lam = draw(_floats(value, name, 0.0, strict=name == "clip"))
        parts.append(make(lam))
    return R.chain(*parts)


__all__ = ["AlignedCase", "aligned_networks", "input_covariances", "lambda_balanced_networks",
           "mode_strengths", "networks", "networks_and_tasks", "rules", "tasks", "widths"]
