"""HCGD: the L2 function distance, its gradient, and the steps of Algorithm 1."""

import numpy as np
import pytest

from dlnsim import Network, Task, curvature, rules, simulate
from dlnsim.optim import hcgd


def _setup():
    rng = np.random.default_rng(0)
    net = Network.random((3, 4, 2), scale=0.8, seed=1)
    x = rng.standard_normal((3, 10))
    return net, x @ x.T / 10, Task(target=rng.standard_normal((2, 3))), x


def test_distance_gradient_matches_finite_differences():
    net, cov, _, _ = _setup()
    rng = np.random.default_rng(2)
    delta = [0.3 * rng.standard_normal(w.shape) for w in net.weights]
    grad = np.concatenate([g.ravel() for g in hcgd.l2_distance_grad(net, delta, cov)])
    flat = np.concatenate([d.ravel() for d in delta])
    fd, h = np.empty_like(flat), 1e-6
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        fd[k] = (hcgd.l2_distance_sq(net, net.unflatten(flat + e), cov)
                 - hcgd.l2_distance_sq(net, net.unflatten(flat - e), cov)) / (2 * h)
    assert np.allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_distance_is_the_gn_form_to_second_order():
    net, cov, _, _ = _setup()
    delta = [np.ones_like(w) for w in net.weights]
    flat = np.concatenate([d.ravel() for d in delta])
    quad = flat @ curvature.gauss_newton(net, cov) @ flat
    t = 1e-5
    d = hcgd.l2_distance_sq(net, [t * x for x in delta], cov)
    assert d / t**2 == pytest.approx(quad, rel=1e-3)


def test_algorithm_1_proposal_and_first_correction():
    net, cov, task, x = _setup()
    s = hcgd.step(net, task, x, lr=0.1, inner_lr=0.05, lam=2.0, corrections=2, momentum=0.9)
    g = curvature.gradient(net, task.target, task.input_cov)
    assert all(np.allclose(a, -0.1 * b) for a, b in zip(s.iterates[0], g))  # SGD proposal
    c1 = hcgd.l2_distance_grad(net, s.iterates[0], cov)  # first correction: L2 term only
    assert all(np.allclose(a, b - 0.05 * c) for a, b, c in
               zip(s.iterates[1], s.iterates[0], c1))
    c2 = hcgd.l2_distance_grad(net, s.iterates[1], cov)  # later ones add the gradient
    assert all(np.allclose(a, b - 0.05 * (gi + c)) for a, b, gi, c in
               zip(s.iterates[2], s.iterates[1], g, c2))
    # the momentum buffer ends as minus the final update
    assert all(np.allclose(v, -d) for v, d in zip(s.velocity, s.delta))


def test_bad_arguments():
    net, _, task, x = _setup()
    with pytest.raises(ValueError, match="corrections"):
        hcgd.step(net, task, x, 0.1, 0.1, 1.0, corrections=0)
    with pytest.raises(ValueError, match="val_inputs"):
        hcgd.step(net, task, np.ones((4, 5)), 0.1, 0.1, 1.0)


def test_hcgd_rule_trains_reproducibly():
    task = Task.teacher_student(n=4, rank=2, noise=0.1, seed=0)
    net = Network.random((4, 4, 4), scale=0.5, seed=1)
    rule = rules.hcgd(inner_lr=0.02, lam=1.0, corrections=2, momentum=0.9, val_batch=16, seed=7)
    a = simulate(net, task, rule, [0, 30, 60], lr=0.1, method="discrete", quiet=True)
    b = simulate(net, task, rule, [0, 30, 60], lr=0.1, method="discrete", quiet=True)
    assert a.success and np.array_equal(a.map, b.map)
    assert a.loss[-1] < 0.3 * a.loss[0]
    assert a.rule == "hcgd(lam=1, n=2)"


def test_hcgd_rule_steps_are_algorithm_1_with_fresh_validation_batches_and_momentum():
    """Two steps of the rule equal two calls of hcgd.step with the validation batches drawn
    from the rule's generator (child 0 of its seed) and the momentum buffer carried over,
    on a task with non-identity input covariance (x_v = S^{1/2} z)."""
    rng = np.random.default_rng(3)
    cov = np.array([[1.5, 0.4, 0.0], [0.4, 1.0, 0.2], [0.0, 0.2, 0.6]])
    task = Task(target=rng.standard_normal((2, 3)), input_cov=cov)
    net = Network.random((3, 4, 2), scale=0.6, seed=2)
    lr = 0.1
    rule = rules.hcgd(inner_lr=0.05, lam=2.0, corrections=3, momentum=0.9, val_batch=7, seed=5)
    traj = simulate(net, task, rule, [0, 1, 2], lr=lr, method="discrete", quiet=True)
    gen = np.random.default_rng(np.random.SeedSequence(5).spawn(1)[0])
    s1 = hcgd.step(net, task, task.input_cov_sqrt @ gen.standard_normal((3, 7)), lr, 0.05,
                   2.0, 3, 0.9)
    net1 = Network([w + d for w, d in zip(net.weights, s1.delta)])
    s2 = hcgd.step(net1, task, task.input_cov_sqrt @ gen.standard_normal((3, 7)), lr, 0.05,
                   2.0, 3, 0.9, velocity=s1.velocity)
    for k, (start, step) in enumerate(((net, s1), (net1, s2)), start=1):
        for w, w0, d in zip(traj.weights, start.weights, step.delta):
            np.testing.assert_allclose(w[k], w0 + d, rtol=1e-12, atol=1e-15)
