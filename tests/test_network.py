"""Network: products, imbalance, constructors, validation."""

import numpy as np
import pytest
from hypothesis import given, settings

from dlnsim import Network
from tests.reference import dln_cases, full_map


@settings(max_examples=50, deadline=None)
@given(dln_cases())
def test_partial_products_compose_to_the_map(case):
    weights, _, _ = case
    net = Network(weights)
    assert net.depth == len(weights)
    assert net.widths == (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
    m = full_map(weights)
    assert np.allclose(net.map, m, rtol=1e-13, atol=1e-300)
    for i, w in enumerate(weights):
        assert np.allclose(net.above(i) @ w @ net.below(i), m, rtol=1e-12,
                           atol=1e-13 * np.abs(m).max())
        assert net.below(i).shape == (net.widths[i], net.widths[0])
        assert net.above(i).shape == (net.widths[-1], net.widths[i + 1])


def test_imbalance_definition_and_shapes():
    """c_i = w_i w_i^T - w_{i+1}^T w_{i+1} (eq 15), entry by entry with explicit sums (no
    matmul, no transposes), on a rectangular network; and a hand-computed scalar case."""
    net = Network.random((2, 3, 4, 5), scale=1.0, seed=0)
    c = net.imbalance()
    ws = net.weights
    assert [x.shape for x in c] == [(3, 3), (4, 4)]
    for i, ci in enumerate(c):
        a, b = ws[i], ws[i + 1]
        for r in range(ci.shape[0]):
            for s in range(ci.shape[1]):
                want = (sum(a[r, k] * a[s, k] for k in range(a.shape[1]))
                        - sum(b[k, r] * b[k, s] for k in range(b.shape[0])))
                assert ci[r, s] == pytest.approx(want, rel=1e-12, abs=1e-14)
    assert Network([np.array([[2.0]]), np.array([[3.0]])]).imbalance()[0][0, 0] == -5.0
    assert Network.random((3, 2), seed=0).imbalance() == []


def test_weights_are_read_only_copies():
    w = np.ones((2, 2))
    net = Network([w])
    w[0, 0] = 5.0
    assert net.weights[0][0, 0] == 1.0
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 2.0


def test_random_is_reproducible_and_scaled():
    a = Network.random((50, 60, 40), scale=0.1, seed=3)
    b = Network.random((50, 60, 40), scale=0.1, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights))
    assert np.std(a.weights[0]) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("widths", [(4, 3, 5), (3, 3, 3, 3), (5, 2, 4), (2, 6)])
def test_aligned_balanced_network_has_zero_imbalance_and_target_modes(widths):
    rng = np.random.default_rng(1)
    target = rng.standard_normal((widths[-1], widths[0]))
    m = min(widths)
    sbar = np.array([2.0, -0.5, 0.1, 1.0, 0.3, 0.7])[:m]
    net = Network.aligned(target, sbar, widths=widths, seed=2)
    for c in net.imbalance():
        assert np.abs(c).max() <= 1e-12
    u, _, vt = np.linalg.svd(target)
    assert np.allclose(net.map, (u[:, :m] * sbar) @ vt[:m], atol=1e-12)


def test_aligned_with_per_layer_strengths():
    target = np.diag([3.0, 2.0, 1.0])
    sig = np.array([[1.0, 2.0], [0.5, 0.5], [0.1, 3.0]])
    net = Network.aligned(target, sig)
    assert net.widths == (3, 3, 3)
    u, _, vt = np.linalg.svd(target)
    assert np.allclose(u.T @ net.map @ vt.T, np.diag(sig.prod(axis=1)), atol=1e-12)
    # c_1 = w_1 w_1^T - w_2^T w_2 has eigenvalues sigma_1^2 - sigma_2^2 (eq 6)
    e = np.sort(np.linalg.eigvalsh(net.imbalance()[0]))
    assert np.allclose(e, np.sort(sig[:, 0] ** 2 - sig[:, 1] ** 2), atol=1e-12)


@pytest.mark.parametrize("make,err,match", [
    (lambda: Network([]), ValueError, "at least one layer"),
    (lambda: Network("w"), TypeError, "weights must be a sequence"),
    (lambda: Network([np.ones((2, 3)), np.ones((2, 3))]), ValueError, "widths must chain"),
    (lambda: Network([np.ones(3)]), ValueError, r"weights\[0\] must be a 2-D array"),
    (lambda: Network([np.array([[np.nan]])]), ValueError, r"weights\[0\] must be finite"),
    (lambda: Network([np.ones((0, 2))]), ValueError, "non-empty"),
    (lambda: Network.random((3,)), ValueError, "widths must have at least 2"),
    (lambda: Network.random((3, 0)), ValueError, "widths must be >= 1"),
    (lambda: Network.random((3, 2.5)), TypeError, "widths must hold integers"),
    (lambda: Network.random((3, 3), scale=0), ValueError, "scale"),
    (lambda: Network.aligned(np.eye(2), [1.0]), ValueError, "depth is required"),
    (lambda: Network.aligned(np.eye(2), [1, 1, 1], depth=2), ValueError, "narrowest width"),
    (lambda: Network.aligned(np.eye(2), [[1.0, 2.0]], widths=(2, 2, 2, 2)), ValueError,
     "strengths has shape"),
    (lambda: Network.aligned(np.eye(2), [1.0], widths=(3, 2)), ValueError, "must start with"),
])
def test_bad_network_input_raises_naming_the_argument(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_layer_index_is_checked():
    net = Network.random((2, 2, 2), seed=0)
    with pytest.raises(ValueError, match="layer index"):
        net.above(2)
    with pytest.raises(TypeError, match="layer index"):
        net.below(0.5)
