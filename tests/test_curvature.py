"""Map-space curvature against dense P x P references and finite differences."""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dlnsim import Network, Task, curvature, rules
from tests.reference import (
    dense_gauss_newton,
    dense_jacobian,
    dense_power,
    dln_cases,
    flat,
    full_map,
    sqrtm_spd,
)

QS = [1.0, 1.5, 2.0, 3.0, math.inf]


def _well_separated(h: np.ndarray, rcond: float, gap: float = 1e-5) -> bool:
    """Every eigenvalue of H is clearly null or at least ``gap`` times the largest.

    Near the cutoff the pseudo-inverse is discontinuous and no two float64 computations need
    agree. Away from it, an undamped q = 1 direction computed by any float64 eigensolver (the
    dense reference included) carries a relative error of about eps * cond(K)^{1.3}
    (measured: 2e-9 at cond 7e5), so 1e-9 agreement needs cond <= 1e5.
    """
    e = np.linalg.eigvalsh(h)
    top = e.max()
    if top <= 0:
        return False
    rel = e / top
    return bool(np.all((rel < 1e-13) | (rel > gap)))


@settings(max_examples=60, deadline=None)
@given(dln_cases())
def test_jvp_equals_dense_jacobian(case):
    weights, _, _ = case
    net = Network(weights)
    rng = np.random.default_rng(0)
    tangents = [rng.standard_normal(w.shape) for w in weights]
    want = (dense_jacobian(weights) @ flat(tangents)).reshape(net.map.shape)
    got = curvature.jvp(net, tangents)
    assert np.allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max() + 1e-300)


@settings(max_examples=60, deadline=None)
@given(dln_cases())
def test_vjp_is_adjoint_of_jvp(case):
    weights, target, _ = case
    net = Network(weights)
    rng = np.random.default_rng(1)
    tangents = [rng.standard_normal(w.shape) for w in weights]
    y = rng.standard_normal(target.shape)
    lhs = float(np.sum(curvature.jvp(net, tangents) * y))
    rhs = float(sum(np.sum(t * g) for t, g in zip(tangents, curvature.vjp(net, y))))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("widths", [(3, 4, 2, 5), (2, 2), (4, 1, 3), (3, 3, 3, 3, 3)])
def test_jvp_matches_central_finite_differences(widths):
    net = Network.random(widths, scale=0.7, seed=3)
    rng = np.random.default_rng(4)
    tangents = [rng.standard_normal(w.shape) for w in net.weights]
    h = 1e-6
    plus = full_map([w + h * t for w, t in zip(net.weights, tangents)])
    minus = full_map([w - h * t for w, t in zip(net.weights, tangents)])
    fd = (plus - minus) / (2 * h)
    # central differences have O(h^2) truncation error and O(eps/h) rounding error
    assert np.allclose(curvature.jvp(net, tangents), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("whitened", [True, False])
def test_gradient_matches_finite_differences_of_loss(whitened):
    rng = np.random.default_rng(5)
    net = Network.random((3, 4, 2, 3), scale=0.8, seed=6)
    cov = None if whitened else np.diag([1.0, 2.0, 0.5])
    task = Task(target=rng.standard_normal((3, 3)), input_cov=cov)
    g = curvature.gradient(net, task.target, task.input_cov)
    theta = net.flat()
    h = 1e-6
    fd = []
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        lp = task.loss(Network(net.unflatten(theta + e)).map)
        lm = task.loss(Network(net.unflatten(theta - e)).map)
        fd.append((lp - lm) / (2 * h))
    assert np.allclose(flat(g), fd, rtol=1e-6, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(dln_cases())
def test_gauss_newton_equals_dense_reference(case):
    weights, _, cov = case
    net = Network(weights)
    want = dense_gauss_newton(weights, cov)
    got = curvature.gauss_newton(net, cov)
    assert np.allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())


@settings(max_examples=40, deadline=None)
@given(dln_cases())
def test_map_kernel_matvec_equals_dense_and_shares_spectrum_with_gn(case):
    weights, _, cov = case
    net = Network(weights)
    k = curvature.map_kernel(net, cov)
    x = np.random.default_rng(2).standard_normal(k.shape)
    assert np.allclose(k.matvec(x).ravel(), k.dense() @ x.ravel(), rtol=1e-10,
                       atol=1e-12 * np.abs(k.dense()).max())
    ek = np.sort(np.linalg.eigvalsh(k.dense()))[::-1]
    eh = np.sort(np.linalg.eigvalsh(dense_gauss_newton(weights, cov)))[::-1]
    top, n = eh[0], min(ek.size, eh.size)
    assert np.allclose(ek[:n], eh[:n], atol=1e-10 * top)
    # whichever is larger (K is (n_d n_0)^2, H is P^2) has only null eigenvalues beyond
    assert np.all(np.abs(np.concatenate([ek[n:], eh[n:]])) <= 1e-10 * top)


@pytest.mark.parametrize("gradient_form", [True, False])
@pytest.mark.parametrize("q", QS)
@settings(max_examples=15, deadline=None)
@given(case=dln_cases(), damping_rel=st.sampled_from([0.0, 1e-3, 0.3]))
def test_full_ngd_direction_equals_dense(case, q, damping_rel, gradient_form):
    """The gradient through its map-space cotangent, or any vector through the projection."""
    weights, target, cov = case
    net = Network(weights)
    h = dense_gauss_newton(weights, cov)
    damping = damping_rel * np.linalg.eigvalsh(h).max()
    if damping == 0:  # an arbitrary vector also goes through K^+ (~eps cond^{1.5})
        assume(_well_separated(h, curvature.DEFAULT_RCOND, 1e-5 if gradient_form else 1e-4))
    if gradient_form:
        u = curvature.gradient(net, target, cov)
        cot = (net.map - target) @ sqrtm_spd(cov)
    else:
        rng = np.random.default_rng(7)
        u, cot = [rng.standard_normal(w.shape) for w in weights], None
    want = dense_power(h, flat(u), q, damping, curvature.DEFAULT_RCOND)
    got = flat(curvature.ngd_direction(net, u, cov, q, damping, cotangent=cot))
    assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want) + 1e-300


@pytest.mark.parametrize("q", QS)
@settings(max_examples=16, deadline=None)
@given(case=dln_cases(), damping_rel=st.sampled_from([0.0, 1e-3, 0.3]))
def test_block_ngd_direction_equals_dense_diagonal_blocks(case, q, damping_rel):
    weights, _, cov = case
    net = Network(weights)
    h = dense_gauss_newton(weights, cov)
    rng = np.random.default_rng(8)
    u = [rng.standard_normal(w.shape) for w in weights]
    want, k = [], 0
    top = np.linalg.eigvalsh(h).max()
    for w, ui in zip(weights, u):
        block = h[k:k + w.size, k:k + w.size]
        k += w.size
        if damping_rel == 0:
            assume(_well_separated(block, curvature.DEFAULT_RCOND))
        scale = 1.0 if math.isinf(q) else len(weights) ** (-1 / q)
        want.append(scale * dense_power(block, ui.ravel(), q, damping_rel * top,
                                        curvature.DEFAULT_RCOND))
    got = flat(curvature.block_ngd_direction(net, u, cov, q, damping_rel * top))
    want = np.concatenate(want)
    assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want) + 1e-300


@pytest.mark.parametrize("q", QS)
def test_kernel_inverse_power_inverts_the_kernel_power(q):
    net = Network.random((3, 4, 3), scale=1.0, seed=9)
    k = curvature.map_kernel(net)
    x = np.random.default_rng(3).standard_normal(k.shape)
    y = k.inverse_power(x, q)
    # K^{1/q} applied to K^{-1/q} x returns x (full rank kernel here)
    evals, evecs = k.eigh
    back = (evecs @ (np.clip(evals, 0, None) ** (0 if math.isinf(q) else 1 / q)
                     * (evecs.T @ y.ravel()))).reshape(k.shape)
    assert np.allclose(back, x, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(dln_cases())
def test_gn_norms_equal_dense_quadratic_forms(case):
    weights, _, cov = case
    net = Network(weights)
    theta = flat(weights)
    h = dense_gauss_newton(weights, cov)
    want_full = theta @ h @ theta
    want_kfac, k = 0.0, 0
    for w in weights:
        block = h[k:k + w.size, k:k + w.size]
        want_kfac += w.ravel() @ block @ w.ravel()
        k += w.size
    assert curvature.gn_norm_sq(net, cov) == pytest.approx(want_full, rel=1e-9, abs=1e-300)
    assert curvature.kfac_gn_norm_sq(net, cov) == pytest.approx(want_kfac, rel=1e-9, abs=1e-300)


def test_gn_norm_identities_for_whitened_linear_networks():
    """Zhang et al. Theorem 1: ||theta||_G^2 = d^2 ||J_x||_F^2, K-FAC: d ||J_x||_F^2."""
    net = Network.random((4, 5, 3, 6, 2), scale=0.6, seed=10)
    jx = np.sum(net.map**2)
    assert curvature.gn_norm_sq(net) == pytest.approx(16 * jx, rel=1e-12)
    assert curvature.kfac_gn_norm_sq(net) == pytest.approx(4 * jx, rel=1e-12)


def test_bad_spectral_arguments_name_the_argument():
    net = Network.random((2, 2, 2), seed=0)
    u = net.weights
    with pytest.raises(ValueError, match="q must be >= 1"):
        curvature.ngd_direction(net, u, q=0.5)
    with pytest.raises(ValueError, match="damping"):
        curvature.ngd_direction(net, u, damping=-1.0)
    with pytest.raises(ValueError, match="rcond"):
        curvature.block_ngd_direction(net, u, rcond=2.0)
    with pytest.raises(ValueError, match="params"):
        curvature.ngd_direction(net, u[:1])
    with pytest.raises(ValueError, match="input_cov"):
        curvature.gauss_newton(net, input_cov=-np.eye(2))
    with pytest.raises(ValueError, match="tangents"):
        curvature.jvp(net, [np.ones((3, 3)), np.ones((2, 2))])


@st.composite
def balanced_cases(draw):
    """Balanced networks (c_i = 0) built on a random matrix's SVD, rank possibly deficient."""
    d = draw(st.integers(1, 4))
    widths = tuple(draw(st.lists(st.integers(1, 5), min_size=d + 1, max_size=d + 1)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    m = draw(st.integers(1, min(widths)))  # fewer modes than the narrowest width: rank-deficient
    scale = draw(st.sampled_from([1e-3, 0.3, 1.0]))
    net = Network.aligned(rng.standard_normal((widths[-1], widths[0])),
                          scale * rng.uniform(0.2, 2.0, m), widths=widths, seed=seed)
    return net, rng.standard_normal((widths[-1], widths[0]))


@settings(max_examples=100, deadline=None)
@given(balanced_cases(), st.sampled_from(QS), st.sampled_from([0.0, 1e-3, 0.3]))
def test_balanced_direction_equals_dense_reference(case, q, damping_rel):
    net, target = case
    assert curvature.is_balanced(net)
    cov = np.eye(net.widths[0])
    h = dense_gauss_newton(list(net.weights), cov)
    damping = damping_rel * np.linalg.eigvalsh(h).max()
    if damping == 0:
        assume(_well_separated(h, curvature.DEFAULT_RCOND))
    g = curvature.gradient(net, target)
    want = dense_power(h, flat(g), q, damping, curvature.DEFAULT_RCOND)
    got = flat(curvature.balanced_ngd_direction(net, net.map - target, q, damping))
    assert np.linalg.norm(got - want) <= 1e-9 * np.linalg.norm(want) + 1e-300


def test_balanced_eigenvalues_are_the_kernel_spectrum():
    net = Network.aligned(np.random.default_rng(0).standard_normal((3, 5)), [2.0, 0.5],
                          widths=(5, 4, 3, 3), seed=1)
    _, _, lam = curvature.balanced_svd(net.map, net.depth)
    want = np.sort(np.linalg.eigvalsh(curvature.map_kernel(net).dense()))
    assert np.allclose(np.sort(lam.ravel()), want, atol=1e-12)


def test_is_balanced_detects_imbalance():
    net = Network.aligned(np.eye(3), [1.0, 2.0, 3.0], depth=3)
    assert curvature.is_balanced(net)
    w = [x.copy() for x in net.weights]
    w[1][0, 0] += 1e-6
    assert not curvature.is_balanced(Network(w))


def test_ngd_direction_defaults_to_ngd_and_kron_power_checks_shapes():
    net = Network.random((3, 4, 2), scale=0.7, seed=5)
    u = [np.ones_like(w) for w in net.weights]
    for a, b in zip(curvature.ngd_direction(net, u), curvature.ngd_direction(net, u, q=1.0)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"g must have shape \(3, 2\)"):
        curvature.kron_inverse_power(np.eye(2), np.eye(3), np.ones((2, 3)), 2.0)


# ---- the exact depth-2 path (theory/scale.md, scale.depth2) ----------------------------------


def _depth2_case(weights, cov):
    from dlnsim.network import partial_products

    whitened = np.allclose(cov, np.eye(cov.shape[0]))
    r = None if whitened else sqrtm_spd(cov)
    stack = [w[None] for w in weights]
    return stack, partial_products(stack), None if r is None else r[None]


@settings(max_examples=60, deadline=None)
@given(dln_cases(min_depth=2, max_depth=2, max_width=6))
def test_depth2_eigenvalues_are_the_kernel_spectrum(case):
    """The n_2 blocks C_a = R B R + alpha_a S (or alpha_a + beta_b for S = I) have together
    exactly the eigenvalues of the dense (n_2 n_0)-square kernel, so the pseudo-inverse cutoff
    drops the same modes on both paths."""
    from dlnsim.curvature import batched

    weights, _, cov = case
    stack, parts, r = _depth2_case(weights, cov)
    evals, top, _ = batched.depth2_kernel_eigh(stack, r)
    dense = np.linalg.eigvalsh(batched.dense_kernel(parts, r)[0])
    got = np.sort(evals[0].ravel())
    assert np.allclose(got, dense, rtol=0, atol=1e-12 * max(dense.max(), 1e-300))
    assert float(top[0].max()) == pytest.approx(dense.max(), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("gradient_form", [True, False])
@pytest.mark.parametrize("q", QS)
@settings(max_examples=20, deadline=None)
@given(case=dln_cases(min_depth=2, max_depth=2, max_width=6),
       damping_rel=st.sampled_from([0.0, 1e-3, 0.3]))
def test_depth2_direction_equals_dense_map_space_and_dense_reference(case, q, damping_rel,
                                                                      gradient_form):
    """path='depth2' against the dense map-space path and the dense P x P reference: any
    widths (bottlenecks), S != I, near-saddle scales, q, damping, and the projection form."""
    weights, target, cov = case
    net = Network(weights)
    h = dense_gauss_newton(weights, cov)
    damping = damping_rel * np.linalg.eigvalsh(h).max()
    if damping == 0:
        assume(_well_separated(h, curvature.DEFAULT_RCOND, 1e-5 if gradient_form else 1e-4))
    if gradient_form:
        u = curvature.gradient(net, target, cov)
        cot = (net.map - target) @ sqrtm_spd(cov)
    else:
        u = tuple(np.random.default_rng(8).standard_normal(w.shape) for w in weights)
        cot = None
    kw = dict(input_cov=cov, q=q, damping=damping, cotangent=cot)
    fast = flat(curvature.ngd_direction(net, u, path="depth2", **kw))
    dense_path = flat(curvature.ngd_direction(net, u, path="dense", **kw))
    reference = dense_power(h, flat(u), q, damping)
    scale = max(np.linalg.norm(reference), 1e-300)
    assert np.linalg.norm(fast - dense_path) <= 1e-10 * scale + 1e-300
    assert np.linalg.norm(fast - reference) <= 1e-9 * scale + 1e-300


def test_depth2_path_applies_the_pseudo_inverse_on_a_rank_one_bottleneck():
    """Width-1 bottleneck: K has rank n_2 + n_0 - 1 of n_2 n_0; undamped NGD must drop the
    null modes exactly as the dense reference does (a cutoff on the wrong eigenvalues, or
    none, gives a huge or wrong direction)."""
    rng = np.random.default_rng(3)
    weights = [rng.standard_normal((1, 4)), rng.standard_normal((3, 1))]
    cov = np.diag([2.0, 1.0, 0.5, 0.25])
    net, target = Network(weights), rng.standard_normal((3, 4))
    u = curvature.gradient(net, target, cov)
    for q in (1.0, 2.0):
        got = flat(curvature.ngd_direction(net, u, cov, q=q, path="depth2",
                                           cotangent=(net.map - target) @ sqrtm_spd(cov)))
        want = dense_power(dense_gauss_newton(weights, cov), flat(u), q)
        assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)


def test_depth2_path_refuses_other_depths_and_unknown_paths():
    net = Network.random((2, 3, 3, 2), scale=0.5, seed=0)
    u = tuple(np.ones(w.shape) for w in net.weights)
    with pytest.raises(ValueError, match="path='depth2' needs a network of depth 2"):
        curvature.ngd_direction(net, u, path="depth2")
    with pytest.raises(ValueError, match="path must be"):
        curvature.ngd_direction(net, u, path="fast")


@pytest.mark.parametrize("whitened", [True, False])
def test_depth2_cutoff_is_relative_to_the_whole_kernel_not_each_block(whitened):
    """A block whose eigenvalues are all below 1e-12 of the kernel's largest must be dropped
    whole by the pseudo-inverse (as the dense path does), even though they are not small
    relative to that block: w_1 ~ 1e-8 and one direction of w_2 ~ 1e-8."""
    rng = np.random.default_rng(5)
    u2, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    w2 = (u2 * np.array([1.0, 1e-8, 0.5])) @ np.linalg.qr(rng.standard_normal((3, 3)))[0]
    weights = [1e-8 * rng.standard_normal((3, 2)), w2]
    cov = np.eye(2) if whitened else np.array([[1.5, 0.3], [0.3, 0.8]])
    net, target = Network(weights), rng.standard_normal((3, 2))
    u = curvature.gradient(net, target, cov)
    cot = (net.map - target) @ sqrtm_spd(cov)
    for q in (1.0, 2.0):
        kw = dict(input_cov=cov, q=q, cotangent=cot)
        got = flat(curvature.ngd_direction(net, u, path="depth2", **kw))
        want = flat(curvature.ngd_direction(net, u, path="dense", **kw))
        assert np.linalg.norm(got - want) <= 1e-8 * np.linalg.norm(want)


# -- one path policy for rules.ngd and curvature.ngd_direction ----------------------------
@pytest.mark.parametrize("path", ["auto", "dense", "balanced", "krylov"])
def test_ngd_direction_takes_every_path_rules_ngd_takes_and_agrees_with_it(path):
    """The same five paths, the same answers: curvature.ngd_direction (one network) and
    rules.ngd (stacks) go through curvature.paths.direction."""
    net = Network.aligned(np.diag([1.0, 0.6, 0.3]), [0.9, 0.7, 0.4], widths=(3, 3, 3, 3),
                          seed=1)   # balanced, S = I
    task = Task(target=np.random.default_rng(2).standard_normal((3, 3)))
    g = curvature.gradient(net, task.target)
    delta = net.map - task.target
    got = flat(curvature.ngd_direction(net, g, q=2, path=path, cotangent=delta))
    want = -flat(rules.ngd(2.0, path=path).velocity(net, task))
    dense = -flat(rules.ngd(2.0, path="dense").velocity(net, task))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.linalg.norm(got - dense) <= 1e-8 * np.linalg.norm(dense)


def test_the_balanced_path_refuses_an_unbalanced_network_in_the_same_words_everywhere():
    net = Network.random((3, 4, 4, 3), scale=0.5, seed=0)
    task = Task(target=np.eye(3))
    g = curvature.gradient(net, task.target)
    with pytest.raises(curvature.NotBalanced) as a:
        curvature.ngd_direction(net, g, q=2, path="balanced", cotangent=net.map - task.target)
    with pytest.raises(curvature.NotBalanced) as b:
        rules.ngd(2.0, path="balanced").velocity(net, task)
    assert str(a.value) == str(b.value) and "needs a balanced network" in str(a.value)
    with pytest.raises(ValueError, match="path must be one of"):
        curvature.ngd_direction(net, g, path="fast")
