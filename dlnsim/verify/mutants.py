"""Known bugs, kept as data beside the claims: does the catalogue have teeth?

Each mutant is a small, named, reversible patch of the library (a context manager) that
plants one plausible error: the input covariance dropped from the block factors, a wrong
fractional power, a rule 10% too fast, a leak into the null space of the Jacobian, ...
``dlnsim verify --mutants`` runs every claim under every mutant and prints which claims catch
which bug; ``catches`` names the claims that check the mutant's mechanism, which must fail
under it (tests/test_verify.py checks that each does).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mutant:
    """A planted bug: ``patch()`` is a context manager that applies it, ``catches`` the claims
    that check its mechanism."""

    name: str
    mechanism: str
    catches: tuple[str, ...]
    patch: Callable


@contextmanager
def _replace(obj, attr: str, make):
    """``obj.attr`` replaced by ``make(original)`` (a function or method) for the duration."""
    original = getattr(obj, attr)
    setattr(obj, attr, make(original))
    try:
        yield
    finally:
        setattr(obj, attr, original)


@contextmanager
def _everywhere(func, make):
    """A module-level function replaced in every dlnsim module that holds it by name."""
    new = make(func)
    patched = []
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("dlnsim"):
            for key, value in list(vars(mod).items()):
                if value is func:
                    setattr(mod, key, new)
                    patched.append((mod, key))
    try:
        yield
    finally:
        for mod, key in patched:
            setattr(mod, key, func)


def _fresh_caches():
    from dlnsim import experiments

    experiments.teacher_student_runs.cache_clear()
    experiments.phase_diagram_sweep.cache_clear()


def _scaled(d, factor):
    from dlnsim.rules.stack import Direction

    y = None if d.cotangent is None else factor * d.cotangent
    return Direction(tuple(factor * p for p in d.params), y)


def _block_factors_without_s():
    from dlnsim.curvature import batched
    return _everywhere(batched.block_factors,
                       lambda f: lambda parts, cov=None: f(parts, None))


@contextmanager
def _power_off():
    # both places a fractional power is taken: the spectral one and the singular modes'
    # scaled one (rules.fields._scaled_power)
    from dlnsim.curvature import spectral
    from dlnsim.rules import fields

    with _everywhere(spectral.inverse_power, lambda f: lambda evals, q, *a, **k: f(
            evals, q if math.isinf(q) else q + 0.1, *a, **k)), \
            _everywhere(fields._scaled_power, lambda f: lambda xp, m, n2, q, eps: f(
                xp, m, n2, q if math.isinf(q) else q + 0.1, eps)):
        yield


def _imbalance_negated():
    from dlnsim.network import Network
    return _replace(Network, "imbalance",
                    lambda f: lambda self: [-c for c in f(self)])


def _mode_jacobian_unsigned():
    from array_api_compat import array_namespace

    from dlnsim.curvature import batched
    return _everywhere(batched.mode_jacobian, lambda f: lambda sigma: array_namespace(
        sigma).abs(f(sigma)))


def _symbolic_velocity_doubled():
    from dlnsim.symbolic import laws

    def make(f):
        def doubled(d, q, block_diagonal):
            sig, vel = f(d, q, block_diagonal)
            return sig, [2 * v for v in vel]
        return doubled
    return _everywhere(laws.mode_velocity, make)


@contextmanager
def _teacher_noise_louder():
    import inspect

    from dlnsim.task import Task

    original = Task.__dict__["teacher_student"]  # the classmethod itself, restored as such
    build = original.__func__
    signature = inspect.signature(build)

    def louder(cls, *args, **kwargs):
        bound = signature.bind(cls, *args, **kwargs)
        bound.apply_defaults()
        bound.arguments["noise"] = 1.5 * bound.arguments["noise"]
        return build(*bound.args, **bound.kwargs)

    Task.teacher_student = classmethod(louder)
    try:
        yield
    finally:
        Task.teacher_student = original


def _hcgd_first_correction_with_g():
    from dlnsim.optim import hcgd

    def make(f):
        def mutated(weights, g, val_cov, lr, inner_lr, lam, corrections, momentum, velocity):
            v = tuple(momentum * vi + lr * gi for vi, gi in zip(velocity, g))
            delta = tuple(-vi for vi in v)
            iterates = [delta]
            for _ in range(corrections):  # the bug: g added at the first correction too
                c = tuple(0.5 * lam * x + gi for x, gi in zip(
                    hcgd.distance_grad(weights, delta, val_cov), g))
                delta = tuple(d - inner_lr * x for d, x in zip(delta, c))
                v = tuple(vi + inner_lr * x for vi, x in zip(v, c))
                iterates.append(delta)
            return delta, v, iterates
        return mutated
    return _everywhere(hcgd.corrected_step, make)


def _rk4_equal_weights():
    from dlnsim.solve import rk4
    from dlnsim.solve.base import Step, column

    def step(self, call, y, h, state=None):  # the four stages weighted 1/4 each, not 1-2-2-1
        hd = column(h, y)
        k1 = call(y)
        k2 = call(y + (hd / 2) * k1)
        k3 = call(y + (hd / 2) * k2)
        k4 = call(y + hd * k3)
        return Step(y + (hd / 4) * (k1 + k2 + k3 + k4))
    return _replace(rk4.RK4, "step", lambda f: step)


def _imbalance_ratio_sign():
    from array_api_compat import array_namespace

    from dlnsim.curvature import batched

    def make(f):
        def wrong(weights):  # c_i = w_i w_i^T + w_{i+1}^T w_{i+1}: the sign lost
            xp = array_namespace(*weights)
            scale = sum(xp.sum(w * w, axis=(-2, -1)) for w in weights)
            worst = xp.zeros_like(scale)
            for w0, w1 in zip(weights[:-1], weights[1:]):
                c = w0 @ batched.mT(w0) + batched.mT(w1) @ w1
                worst = xp.maximum(worst, xp.sqrt(xp.sum(c * c, axis=(-2, -1))))
            return worst / xp.where(scale > 0, scale, xp.ones_like(scale))
        return wrong
    return _everywhere(batched.imbalance_ratio, make)


def _balanced_damping_dropped():
    from dlnsim.curvature import batched

    def make(f):
        def undamped(parts, w, cotangent, q, damping=0.0, *args, **kwargs):
            return f(parts, w, cotangent, q, 0.0, *args, **kwargs)
        return undamped
    return _everywhere(batched.balanced_ngd_direction, make)


def _null_damping_ignores_q():
    """The damped null-space part of q-NGD scaled by eps^{-1} at every q (right at q = 1
    only): ``ngd_direction`` with ``params`` gets (eps^{-1} - eps^{-1/q}) more of it."""
    from dlnsim.curvature import batched

    def make(f):
        def direction(parts, q, damping=0.0, rcond=batched.DEFAULT_RCOND, r=None,
                      cotangent=None, params=None, eigh=None):
            out = f(parts, q, damping, rcond, r, cotangent, params, eigh)
            if params is None or damping <= 0 or math.isinf(q):
                return out
            range_part = f(parts, math.inf, 0.0, rcond, r, None, params, eigh)
            extra = damping ** -1.0 - damping ** (-1.0 / q)
            return tuple(o + extra * (u - p) for o, u, p in zip(out, params, range_part))
        return direction
    return _everywhere(batched.ngd_direction, make)


def _chain_written_order():
    """``chain`` applies its transforms in the order written, not in stage order."""
    from dlnsim.rules import core

    def make(f):
        def chain(*rules):
            f(*rules)  # its checks
            ts = []
            for r in rules:
                ts += list(r.transforms) if isinstance(r, core.Rule) else [r]
            return core.Rule(tuple(ts))
        return chain
    return _everywhere(core.chain, make)


def _e2e_identity_projection():
    """The end-to-end field's gain ``lambda K^{+1/q}`` taken as ``lambda^{1 - 1/q}``
    pointwise, which is 1 on the kernel's null space at q = 1 (0^0): the projection onto the
    range of K_W becomes the identity, invisible while W has full rank."""
    from dlnsim import modes
    from dlnsim.curvature import batched

    def make(f):
        def velocity(w, target, d, q, damping=0.0, rcond=batched.DEFAULT_RCOND, rank=None):
            if damping > 0 or math.isinf(q):
                return f(w, target, d, q, damping, rcond, rank)
            u, v, lam = batched.balanced_svd(np.asarray(w, dtype=float), d, rank)
            gain = np.clip(lam, 0, None) ** (1 - 1 / q)
            return -(u @ (gain * (u.T @ (w - target) @ v)) @ v.T)
        return velocity
    return _everywhere(modes.end_to_end_velocity, make)


def _krylov_loose():
    """The Krylov path 1e5x less accurate than its ``tol`` promises (too few quadrature
    nodes, CG stopped early)."""
    from dlnsim.curvature import krylov

    return _everywhere(krylov.inverse_power, lambda f: lambda net, b, q, damping=0.0,
                       tol=1e-10, maxiter=200, rcond=krylov.DEFAULT_RCOND: f(
                           net, b, q, damping, tol * 1e5, maxiter, rcond))


def _kfac_with(**changes):
    """K-FAC run with some of its own settings changed behind the user's back."""
    from dlnsim.optim import kfac

    def make(f):
        def update(self, d, stack, state, ctx):
            new = {k: fn(self) for k, fn in changes.items()}
            return f(dataclasses.replace(self, **new), d, stack, state, ctx)
        return update
    return _replace(kfac.KFAC, "update", make)


def _kfac_damping_unsplit():
    """K-FAC's Tikhonov damping added as sqrt(lam) to both factors (pi = 1, TKFAC's way)."""
    from dlnsim.optim import kfac

    return _everywhere(kfac._damped_inverses, lambda f: lambda a, g, damping, trace: f(
        a, g, damping, True))


def _tkfac_damping_unrooted():
    """TKFAC adds lam I to its factors where eq 5.15 adds sqrt(lam) I."""
    from dlnsim.optim import kfac

    return _everywhere(kfac._damped_inverses, lambda f: lambda a, g, damping, trace: f(
        a, g, damping**2 if trace else damping, trace))


def _kfac_source(source: str, instead: Callable):
    from dlnsim.optim import kfac

    def make(f):
        def stats(stack, curvature, rngs=()):
            out = f(stack, curvature, rngs)
            return instead(f, stack, rngs, out) if curvature == source else out
        return stats
    return _everywhere(kfac.layer_statistics, make)


def _kfac_sampled_scaled():
    """Sampled-GN outputs drawn with standard deviation sqrt(n_d), as the exact GN's e."""
    return _kfac_source("sampled_gn", lambda f, stack, rngs, out: [
        (a, np.sqrt(stack.target.shape[-2]) * g) for a, g in out])


def _kfac_empirical_as_exact():
    """curvature='empirical_fisher' computes the exact Gauss-Newton's statistics."""
    return _kfac_source("empirical_fisher", lambda f, stack, rngs, out: f(
        stack, "exact_gn", rngs))


def _hcgd_momentum_lost():
    """HCGD's momentum buffer is not carried to the next step."""
    from dlnsim.optim import hcgd

    def make(f):
        def update(self, d, stack, state, ctx):
            return f(self, d, stack, {"v": tuple(np.zeros_like(v) for v in state["v"])},
                     ctx)
        return update
    return _replace(hcgd.HCGD, "update", make)


def _noise_unrooted():
    """Every Fisher noise kind without its square root: C = F, diag F, Tr F / P."""
    from dlnsim.curvature import batched
    from dlnsim.curvature.spectral import DEFAULT_RCOND
    from dlnsim.optim import noise

    def make(f):
        def fisher_noise(parts, weights, r, cov, kind, xi):
            if kind == "sqrt_fisher":  # J_R^T J_R xi
                y = batched.jvp(parts, xi)
                y = y if r is None else y @ r
                return batched.ngd_direction(parts, math.inf, 0.0, DEFAULT_RCOND, r,
                                             cotangent=y)
            out = f(parts, weights, r, cov, kind, xi)
            if kind in ("isotropic", "sqrt_diag_fisher"):  # sqrt(c) xi -> c xi
                return tuple(o * o / x for o, x in zip(out, xi))
            return out
        return fisher_noise
    return _everywhere(noise.stack_fisher_noise, make)


def _noise_same_draw():
    """noisy_sgd draws the same xi every step (a generator re-made from the seed)."""
    from dlnsim.optim import noise

    def make(f):
        def update(self, d, stack, state, ctx):
            ctx = dataclasses.replace(ctx, rngs=tuple(
                np.random.default_rng(s) for s in
                np.random.SeedSequence(self.seed).spawn(len(ctx.rngs))))
            return f(self, d, stack, state, ctx)
        return update
    return _replace(noise.FisherNoise, "update", make)


def _minibatch_with_replacement():
    """Minibatches drawn with replacement."""
    from dlnsim.optim import noise

    class WithReplacement:
        def __init__(self, rng):
            self.rng = rng

        def choice(self, n, size, replace):
            return self.rng.choice(n, size=size, replace=True)

    def make(f):
        def update(self, d, stack, state, ctx):
            return f(self, d, stack, state, dataclasses.replace(
                ctx, rngs=tuple(WithReplacement(g) for g in ctx.rngs)))
        return update
    return _replace(noise.Minibatch, "update", make)


def _cutoff_x10():
    """The pseudo-inverse drops eigenvalues up to 10 rcond lam_max (a cutoff 10x too high)."""
    from dlnsim.curvature import spectral

    return _everywhere(spectral.inverse_power, lambda f: lambda evals, q, damping=0.0,
                       rcond=spectral.DEFAULT_RCOND, lam_max=None: f(
                           evals, q, damping, 10 * rcond, lam_max))


def _never_balanced():
    """path='auto' never takes the balanced path (its imbalance threshold below 0)."""
    from dlnsim.curvature import paths

    return _replace(paths, "BALANCE_RTOL", lambda value: -1.0)


def _imbalance_halved():
    """The depth-2 lazy/rich closed form with c halved (c read as (s_1^2 - s_2^2) / 2)."""
    from dlnsim.symbolic import canon

    return _everywhere(canon.unbalanced_mode_gd, lambda f: lambda t, u0, c, s_star, lr=1.0: f(
        t, u0, c / 2, s_star, lr))


def _always_balanced():
    """path='auto' takes the balanced path whatever the imbalance (threshold infinite)."""
    from dlnsim.curvature import paths

    return _replace(paths, "BALANCE_RTOL", lambda value: math.inf)


def _discrete_heun():
    """Discrete steps taken as Heun's method (two field evaluations), not y + lr v(y)."""
    from dlnsim.solve import discrete
    from dlnsim.solve.base import Step

    def make(f):
        def step(self, call, y, h, state=None):
            k1 = call(y)
            return Step(y + 0.5 * (k1 + call(y + k1)))
        return step
    return _replace(discrete.Discrete, "step", make)


def _gn_first_block_dropped():
    """The dense Gauss-Newton matrix built without the first layer's rows and columns."""
    from dlnsim.curvature import dense

    def make(f):
        def gauss_newton(net, input_cov=None):
            h = np.array(f(net, input_cov))
            k = net.weights[0].size
            h[:k, :] = 0.0
            h[:, :k] = 0.0
            return h
        return gauss_newton
    return _everywhere(dense.gauss_newton, make)


def _decay_first_layer_only():
    """Weight decay (and L2) applied to the first layer only."""
    from dlnsim.rules import fields
    from dlnsim.rules.stack import Direction

    def make(f):
        def apply(self, d, s):
            out = f(self, d, s)
            return Direction((out.params[0],) + tuple(d.params[1:]), out.cotangent)
        return apply
    return _replace(fields._AddWeights, "apply", make)


def _riccati_full_lambda():
    """The Riccati matrix F with lam I where lam/2 I belongs."""
    from dlnsim.symbolic import canon

    return _everywhere(canon.riccati_matrix, lambda f: lambda target, lam: f(target, 2 * lam))


def _layer_rates_reversed():
    """Per-layer rates applied in reverse layer order (output layer first)."""
    from dlnsim.rules import fields

    return _replace(fields.LayerRates, "apply", lambda f: lambda self, d, s: f(
        dataclasses.replace(self, rates=self.rates[::-1]), d, s))


def _e2e_cov_dropped():
    """The balanced end-to-end gradient velocity written with S = I whatever S is."""
    from dlnsim.symbolic import canon

    return _everywhere(canon.end_to_end_gd_velocity, lambda f: lambda w, target, d,
                       input_cov=None: f(w, target, d, None))


def _rule_faster():
    from dlnsim.rules.core import Rule
    return _replace(Rule, "stack_direction",
                    lambda f: lambda self, stack: _scaled(f(self, stack), 1.1))


def _no_depth_scale():
    from dlnsim.rules.fields import NGD

    def make(f):
        def apply(self, d, s):
            out = f(self, d, s)
            if not self.block_diagonal:
                return out
            depth = s.weights[0].shape[-1] if s.is_modes else len(s.weights)
            return _scaled(out, depth ** (1.0 / self.q))
        return apply
    return _replace(NGD, "apply", make)


def _null_leak():
    """Adds 1e-6 of the rescaling symmetry (w_1, -w_2) to every preconditioned direction: it
    keeps the map (a null direction of J) and changes c_1."""
    from dlnsim.rules.fields import NGD
    from dlnsim.rules.stack import Direction

    def make(f):
        def apply(self, d, s):
            out = f(self, d, s)
            xp = s.xp
            if s.is_modes:
                sigma = s.weights[0]
                if sigma.shape[-1] < 2:
                    return out
                leak = xp.concat([sigma[..., :1], -sigma[..., 1:2], 0 * sigma[..., 2:]],
                                 axis=-1)
                leaks = (leak,)
            else:
                if len(s.weights) < 2:
                    return out
                leaks = (s.weights[0], -s.weights[1]) + tuple(0 * w for w in s.weights[2:])
            size = math.sqrt(sum(float(xp.sum(p * p)) for p in out.params))
            norm = math.sqrt(sum(float(xp.sum(w * w)) for w in s.weights)) or 1.0
            eps = 1e-6 * size / norm
            return Direction(tuple(p + eps * n for p, n in zip(out.params, leaks)))
        return apply
    return _replace(NGD, "apply", make)


def _tkfac_unweighted():
    from dlnsim.optim import kfac

    def unweighted(acts, grads):
        a, g = kfac.kfac_moments(acts, grads)
        ta, tg = np.trace(a, axis1=-2, axis2=-1), np.trace(g, axis1=-2, axis2=-1)
        return ta * tg, a / ta[..., None, None], g / tg[..., None, None]
    return _everywhere(kfac.tkfac_moments, lambda f: unweighted)


@contextmanager
def _noise_louder():
    from dlnsim import quadratic
    from dlnsim.optim import noise

    with _everywhere(quadratic.run_quadratic,
                     lambda f: lambda a, c, *r, **k: f(a, 1.5 * np.asarray(c), *r, **k)), \
            _everywhere(noise.stack_fisher_noise,
                        lambda f: lambda *a, **k: tuple(1.5 * x for x in f(*a, **k))):
        yield


@contextmanager
def _hcgd_identity_metric():
    from dlnsim.optim import hcgd

    with _everywhere(hcgd.l2_distance_sq, lambda f: lambda net, delta, val_cov: f(
            net, delta, np.eye(np.shape(val_cov)[0]))), \
            _everywhere(hcgd.distance_grad, lambda f: lambda w, delta, val_cov: f(
                w, delta, np.eye(np.shape(val_cov)[-1]))):
        yield


def _kernel_without_r():
    from dlnsim.curvature import batched
    return _everywhere(batched.dense_kernel, lambda f: lambda parts, r=None: f(parts, None))


def _depth2_without_s():
    from dlnsim.curvature import batched
    return _everywhere(batched.depth2_kernel_eigh, lambda f: lambda weights, r=None: f(weights))


def _block_sign_dropped():
    from dlnsim.rules.fields import NGD
    from dlnsim.rules.stack import Direction

    def make(f):
        def modes_form(self, d, s):
            out = f(self, d, s)
            if not self.block_diagonal:
                return out
            return Direction((out.params[0] * s.xp.sign(s.jacobian),))
        return modes_form
    return _replace(NGD, "_modes", make)


@contextmanager
def _decay_as_l2():
    from dlnsim import rules
    from dlnsim.rules import fields

    with _everywhere(fields.weight_decay, lambda f: lambda lam: rules.Rule(
            (fields.L2(lam),))):
        yield


def _mode_exponent_off():
    from dlnsim import modes
    return _everywhere(modes.exponent, lambda f: lambda d, q: f(d, q) + 0.05)


def _symbolic_exponent_off():
    import sympy as sp

    from dlnsim import symbolic
    return _everywhere(symbolic.exponent,
                       lambda f: lambda d=None, q=None: f(d, q) + sp.Rational(1, 20))


def _gn_norm_without_s():
    from dlnsim.curvature import dense
    return _everywhere(dense.gn_norm_sq, lambda f: lambda net, input_cov=None: f(net, None))


def _kfac_without_input_factor():
    from dlnsim.optim import kfac

    def make(f):
        def inverses(a, g, damping, trace_restricted):
            _, g_inv = f(a, g, damping, trace_restricted)
            return np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy(), g_inv
        return inverses
    return _everywhere(kfac._damped_inverses, make)


def _balanced_eigenvalues_off():
    from dlnsim.curvature import batched
    return _everywhere(batched.balanced_kernel_eigenvalues,
                       lambda f: lambda s_out, s_in, d: f(s_out, s_in, d + 1))


def _ngd_ignores_q():
    from dlnsim.rules import fields

    def make(f):
        def ngd(q=1.0, *a, **k):
            return f(2.0 if not math.isinf(q) else q, *a, **k)
        return ngd
    return _everywhere(fields.ngd, make)


def _block_as_full():
    from dlnsim.rules.fields import NGD

    def make(f):
        def apply(self, d, s):
            if self.block_diagonal:
                return f(NGD(self.q, self.damping, self.rcond, False, "dense"), d, s)
            return f(self, d, s)
        return apply
    return _replace(NGD, "apply", make)


def _kfac_sample_covariance():
    from dlnsim.optim import kfac

    def moments(acts, grads):
        n = acts.shape[-2]
        a, g = kfac.mT(acts) @ acts / max(n - 1, 1), kfac.mT(grads) @ grads / max(n - 1, 1)
        return a, g
    return _everywhere(kfac.kfac_moments, lambda f: moments)


def _jvp_drops_last_layer():
    from dlnsim.curvature import batched

    def make(f):
        def jvp(parts, tangents):
            above, below = parts
            return f((above[:-1], below[:-1]), tangents[:-1]) if len(tangents) > 1 \
                else 0 * f(parts, tangents)
        return jvp
    return _everywhere(batched.jvp, make)


MUTANTS: tuple[Mutant, ...] = (
    Mutant("block_factors.drop_S", "NGD-d's block factors ignore the input covariance S",
           ("huh.ngdd.dense",), _block_factors_without_s),
    Mutant("inverse_power.q+0.1", "every fractional power uses 1/(q + 0.1) for 1/q",
           ("huh.ngd.dense", "huh.ngdd.dense", "huh.ngdd.ratio", "huh.timescale.grid"),
           _power_off),
    Mutant("imbalance.sign", "c_i returned as -c_i (every law linear in c_i still holds)",
           ("wd.imbalance_decay",), _imbalance_negated),
    Mutant("modes.jacobian_unsigned", "the mode Jacobian j_i loses its sign (right only for "
           "positive strengths)", ("huh.ngdd.mapdyn",), _mode_jacobian_unsigned),
    Mutant("hcgd.first_correction_with_g", "Algorithm 1's first correction also adds the "
           "train gradient (line 12 has only the L2 term)", ("hcgd.iterates",),
           _hcgd_first_correction_with_g),
    Mutant("balanced.damping_dropped", "the balanced path ignores damping (the path "
           "path='auto' takes for balanced networks at S = I)", ("huh.ngd.dense",),
           _balanced_damping_dropped),
    Mutant("balance.ratio_sign", "the balance test adds w_{i+1}^T w_{i+1} to w_i w_i^T "
           "(path='auto' never takes the balanced path, path='balanced' refuses everything)",
           ("huh.paths.balance_test",), _imbalance_ratio_sign),
    Mutant("rk4.equal_weights", "rk4 weights its four stages 1/4 each instead of 1, 2, 2, 1 "
           "over 6 (still consistent, no longer fourth order)", ("huh.map.rk4_order",),
           _rk4_equal_weights),
    Mutant("teacher.noise_x1.5", "the teacher-student labels carry 1.5x the stated noise "
           "(every claim built on the task's own target stays consistent)",
           ("huh.teacher.task",), _teacher_noise_louder),
    Mutant("symbolic.velocity_x2", "the symbolic mode velocities twice too large (every "
           "conservation verdict still 0)", ("huh.paths.hyperbolic",),
           _symbolic_velocity_doubled),
    Mutant("rule.x1.1", "every rule moves 10% too fast",
           ("huh.speed", "huh.map.closed_forms", "huh.timescale.grid"), _rule_faster),
    Mutant("ngdd.no_d^-1/q", "NGD-d without its d^{-1/q}",
           ("huh.ngdd.mapdyn", "huh.ngdd.dense"), _no_depth_scale),
    Mutant("ngd.null_leak", "q-NGD leaks 1e-6 into the null space of J (the rescaling "
           "symmetry), breaking Theorem 1", ("huh.conservation", "huh.paths.hyperbolic"),
           _null_leak),
    Mutant("tkfac.unweighted", "TKFAC's factors without the trace weighting (E[L], E[G] "
           "normalised)", ("tkfac.factors",), _tkfac_unweighted),
    Mutant("noise.x1.5", "covariance noise 1.5x too large", ("noise.thm41",), _noise_louder),
    Mutant("hcgd.no_validation_cov", "HCGD's function distance ignores the validation "
           "covariance (uses I)", ("hcgd.metric", "hcgd.ngd_limit"), _hcgd_identity_metric),
    Mutant("kernel.drop_R", "the map-space kernel ignores R = S^{1/2}",
           ("huh.ngd.dense",), _kernel_without_r),
    Mutant("depth2.drop_S", "the depth-2 kernel's blocks built with I in place of S",
           ("scale.depth2", "huh.ngd.dense"), _depth2_without_s),
    Mutant("ngdd.modes_sign", "the singular-mode block rule drops the sign of j_i",
           ("huh.ngdd.mapdyn",), _block_sign_dropped),
    Mutant("weight_decay.as_l2", "decoupled weight decay applied before the preconditioner "
           "(that is L2)", ("wd.l2_vs_decay", "wd.imbalance_decay"), _decay_as_l2),
    Mutant("modes.exponent+0.05", "the map exponent p off by 0.05", ("huh.timescale",),
           _mode_exponent_off),
    Mutant("symbolic.exponent+1/20", "the symbolic exponent p off by 1/20",
           ("huh.table1", "huh.escape", "huh.timescale.grid"), _symbolic_exponent_off),
    Mutant("gn_norm.drop_S", "the Gauss-Newton norm ignores S", ("wd.lemma2",),
           _gn_norm_without_s),
    Mutant("kfac.no_input_factor", "K-FAC preconditions with G^{-1} only (A^{-1} dropped)",
           ("wd.kfac_jacobian",), _kfac_without_input_factor),
    Mutant("balanced.eigenvalues_d+1", "the balanced kernel's eigenvalues for depth d + 1",
           ("scale.end_to_end",), _balanced_eigenvalues_off),
    Mutant("ngd.ignores_q", "rules.ngd builds sqrt-NGD whatever q it is given",
           ("huh.teacher.signal_first", "huh.map.exponent", "huh.timescale.grid"),
           _ngd_ignores_q),
    Mutant("ngdd.as_full", "block_diagonal=True silently runs the full NGD",
           ("huh.teacher.balance", "huh.blockdiag.breaks"), _block_as_full),
    Mutant("kfac.sample_covariance", "K-FAC's factors averaged over N - 1 examples, not N",
           ("tkfac.exact_dln", "wd.kfac_jacobian"), _kfac_sample_covariance),
    Mutant("jvp.drops_last_layer", "the Jacobian-vector product omits the last layer's term",
           ("wd.lemma1",), _jvp_drops_last_layer),
    Mutant("ngd.null_damping_ignores_q", "damped q-NGD scales the null-space part by "
           "eps^{-1} at every q (eps^{-1/q} is right)", ("wd.l2_vs_decay",),
           _null_damping_ignores_q),
    Mutant("chain.written_order", "chain() applies transforms in the order written, not in "
           "stage order", ("wd.l2_vs_decay",), _chain_written_order),
    Mutant("e2e.identity_projection", "the end-to-end field's K K^{+1/q} taken pointwise as "
           "lambda^{1-1/q}: at q = 1 the identity on K's null space (0^0 = 1)",
           ("scale.end_to_end",), _e2e_identity_projection),
    Mutant("krylov.loose", "the Krylov path 1e5x less accurate than its tol (too few "
           "quadrature nodes, CG stopped early)", ("huh.ngd.krylov",), _krylov_loose),
    Mutant("kfac.damping_unsplit", "K-FAC's damping added as sqrt(lam) to both factors "
           "(no pi split)", ("wd.kfac_algorithm",), _kfac_damping_unsplit),
    Mutant("kfac.ema_swapped", "K-FAC's moving average weights the new factors by ema",
           ("wd.kfac_algorithm", "tkfac.algorithm"),
           lambda: _kfac_with(ema=lambda k: 1 - k.ema if k.ema else 0.0)),
    Mutant("kfac.inverse_every_step", "K-FAC recomputes its inverses every step whatever "
           "inverse_interval says", ("wd.kfac_algorithm", "tkfac.algorithm"),
           lambda: _kfac_with(inverse_interval=lambda k: 1)),
    Mutant("kfac.sampled_scaled", "sampled-GN outputs drawn with standard deviation "
           "sqrt(n_d)", ("wd.kfac_algorithm",), _kfac_sampled_scaled),
    Mutant("kfac.empirical_as_exact", "curvature='empirical_fisher' computes the exact GN's "
           "statistics", ("wd.kfac_algorithm", "tkfac.algorithm"), _kfac_empirical_as_exact),
    Mutant("tkfac.damping_unrooted", "TKFAC adds lam I where eq 5.15 adds sqrt(lam) I",
           ("tkfac.algorithm",), _tkfac_damping_unrooted),
    Mutant("hcgd.momentum_lost", "HCGD's momentum buffer not carried to the next step",
           ("hcgd.momentum",), _hcgd_momentum_lost),
    Mutant("noise.unrooted", "noisy_sgd's C without its square root (F, diag F, Tr F / P)",
           ("noise.rule_steps",), _noise_unrooted),
    Mutant("noise.same_draw", "noisy_sgd draws the same xi every step",
           ("noise.rule_steps",), _noise_same_draw),
    Mutant("minibatch.with_replacement", "minibatches drawn with replacement",
           ("noise.minibatch_steps",), _minibatch_with_replacement),
    Mutant("cutoff.x10", "the pseudo-inverse's cutoff 10x too high", ("huh.ngd.cutoff",),
           _cutoff_x10),
    Mutant("routing.never_balanced", "path='auto' never takes the balanced path (slower, the "
           "same values)", ("huh.ngd.dense",), _never_balanced),
    Mutant("canon.imbalance_halved", "the lazy/rich closed form with c halved",
           ("canon.lazy_rich",), _imbalance_halved),
    Mutant("routing.always_balanced", "path='auto' takes the balanced path on unbalanced "
           "networks", ("canon.ngd_exact",), _always_balanced),
    Mutant("discrete.heun", "discrete steps taken as Heun's method (two evaluations)",
           ("canon.discrete_steps",), _discrete_heun),
    Mutant("gn.first_block_dropped", "the dense Gauss-Newton matrix without the first "
           "layer's block", ("canon.sharpness",), _gn_first_block_dropped),
    Mutant("decay.first_layer_only", "weight decay applied to the first layer only",
           ("canon.decay_fixed_points",), _decay_first_layer_only),
    Mutant("canon.riccati_full_lambda", "the depth-2 Riccati matrix with lam I for lam/2 I",
           ("canon.riccati",), _riccati_full_lambda),
    Mutant("layer_rates.reversed", "per-layer rates applied in reverse layer order",
           ("canon.layer_rates",), _layer_rates_reversed),
    Mutant("e2e.cov_dropped", "the end-to-end gradient velocity with S = I for any S",
           ("canon.end_to_end_cov",), _e2e_cov_dropped),
)


@contextmanager
def applied(mutant: Mutant):
    """Apply ``mutant``, with the experiments' caches cleared before and after."""
    _fresh_caches()
    try:
        with mutant.patch():
            yield
    finally:
        _fresh_caches()


BY_NAME: dict[str, Mutant] = {m.name: m for m in MUTANTS}


def matrix(claims=None, mutants=MUTANTS, quiet: bool = True, workers: int | None = 1,
           threads_per_worker: int | None = None,
           timeout: float | None = None) -> dict[str, dict[str, bool]]:
    """``caught[mutant][claim]``: whether each claim fails under each mutant
    (:func:`dlnsim.verify.runner.matrix`; one process unless ``workers`` says otherwise)."""
    from dlnsim.verify.runner import matrix as run_matrix

    return run_matrix(claims, mutants, quiet, workers, threads_per_worker, timeout)
