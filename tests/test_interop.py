"""dlnsim.interop: the bridge to torch, and dlnsim's exact curvature against the real
curvature libraries (curvlinops, BackPACK), conventions stated and checked.

Each test with a library skips cleanly without it (``pip install ".[interop]"``). The networks
have correlated inputs (S != I), rectangular widths and a bottleneck.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dlnsim import Network, Task, curvature, interop, rules  # noqa: E402

CASES = [((3, 4, 2, 3), 5), ((4, 3, 5), 4), ((2, 3, 3, 3, 2), 7)]


def _case(widths, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((widths[0], widths[0]))
    cov = a @ a.T / widths[0] + 0.3 * np.eye(widths[0])
    net = Network.random(widths, scale=0.8, seed=seed)
    return net, Task(target=rng.standard_normal((widths[-1], widths[0])), input_cov=cov)


def _blocks_times(net, blocks, v):
    """``diag(blocks) @ v`` for a flat ``(P, k)`` ``v``."""
    out, k = [], 0
    for b, w in zip(blocks, net.weights):
        out.append(b @ v[k:k + w.size])
        k += w.size
    return np.concatenate(out)


@pytest.mark.parametrize("widths,n", CASES)
def test_the_torch_problem_is_the_network_its_data_and_dlnsims_loss(widths, n):
    net, task = _case(widths, n)
    prob = interop.to_torch(net, task, n_samples=n, seed=1)
    x = prob.inputs.numpy()
    np.testing.assert_allclose(x.T @ x / n, task.input_cov, atol=1e-13)  # second moment S
    assert all(layer.bias is None for layer in prob.model)
    assert all(p.dtype == torch.float64 for p in prob.params)
    # torch's parameter order is dlnsim's flat order
    np.testing.assert_array_equal(interop.to_flat(prob.params), net.flat())
    m = net.map - task.target
    assert prob.loss() == pytest.approx(0.5 * np.trace(m @ task.input_cov @ m.T), rel=1e-12)
    back = interop.from_torch(prob.model)
    for a, b in zip(back.weights, net.weights):
        np.testing.assert_array_equal(a, b)
    v = np.random.default_rng(0).standard_normal((net.flat().size, 3))
    tensors = interop.to_parameters(net, v)
    assert [t.shape[:-1] for t in tensors] == [p.shape for p in prob.params]
    np.testing.assert_array_equal(interop.to_flat(tensors), v)


def test_bad_input_is_refused_by_name():
    net, task = _case((3, 4, 2), 0)
    with pytest.raises(ValueError, match="n_samples must be >= n_0 = 3"):
        interop.to_torch(net, task, n_samples=2)
    with pytest.raises(TypeError, match="net must be a dlnsim.Network"):
        interop.to_torch(net.weights, task)
    with pytest.raises(ValueError, match="has a bias"):
        interop.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="not an nn.Linear"):
        interop.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False),
                                               torch.nn.ReLU()))
    with pytest.raises(ValueError, match="order must be"):
        interop.kfac_block(np.eye(2), np.eye(2), order="fortran")


@pytest.mark.parametrize("widths,n", CASES)
def test_the_exact_references_agree_with_dlnsims_own_paths(widths, n):
    """The K-FAC block B kron A (torch order) is the exact diagonal block; A kron B is it in
    column-major order; the q-NGD direction is the rule's velocity; the GN norm is d^2 Tr."""
    net, task = _case(widths, n)
    blocks = interop.diagonal_blocks(net, task)
    for (a, b), block, w in zip(interop.kfac_factors(net, task), blocks, net.weights):
        np.testing.assert_allclose(interop.kfac_block(a, b), block, atol=1e-12)
        perm = np.arange(w.size).reshape(w.shape).T.ravel()  # row-major -> column-major
        np.testing.assert_allclose(interop.kfac_block(a, b, "column"),
                                   block[np.ix_(perm, perm)], atol=1e-12)
    for q, eps in ((1.0, 1e-3), (2.0, 0.0), (3.0, 1e-2)):
        want = -np.concatenate([v.ravel() for v in rules.ngd(q, damping=eps).velocity(net,
                                                                                       task)])
        np.testing.assert_allclose(interop.qngd_direction(net, task, q, eps), want,
                                   rtol=1e-8, atol=1e-12)
    v = np.random.default_rng(5).standard_normal((net.flat().size, 3))  # k vectors at once
    batch = interop.qngd_direction(net, task, 2.0, 1e-3, vector=v)
    np.testing.assert_allclose(batch[:, 1], interop.qngd_direction(net, task, 2.0, 1e-3,
                                                                    vector=v[:, 1]), rtol=1e-12)
    theta = net.flat()
    assert theta @ interop.gauss_newton(net, task) @ theta == pytest.approx(
        interop.gn_norm_sq(net, task), rel=1e-10)
    assert interop.gn_norm_sq(net, task) == pytest.approx(
        net.depth**2 * np.trace(net.map @ task.input_cov @ net.map.T), rel=1e-12)


# -- curvlinops --------------------------------------------------------------------------------
@pytest.mark.parametrize("widths,n", CASES)
def test_curvlinops_ggn_is_2n_times_dlnsims_exact_gauss_newton(widths, n):
    """Convention: curvlinops' GGN of MSELoss(reduction='sum') over N samples is
    sum_n J_n^T (2 I) J_n = 2 N H (with 'mean' it would be 2 H / n_d)."""
    cl = pytest.importorskip("curvlinops")
    net, task = _case(widths, n)
    prob = interop.to_torch(net, task, n_samples=n)
    ggn = cl.GGNLinearOperator(prob.model, prob.loss_func, prob.params, prob.data)
    v = np.random.default_rng(1).standard_normal((net.flat().size, 4))
    got = (ggn @ torch.as_tensor(v)).numpy()
    want = 2 * n * interop.gauss_newton(net, task) @ v
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()
    mean = torch.nn.MSELoss(reduction="mean")
    ggn_mean = cl.GGNLinearOperator(prob.model, mean, prob.params, prob.data)
    got_mean = (ggn_mean @ torch.as_tensor(v)).numpy()
    np.testing.assert_allclose(got_mean, want / (n * net.widths[-1]), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("widths,n", CASES)
def test_curvlinops_kfac_is_exact_on_the_diagonal_blocks_and_its_factors_are_dlnsims(widths,
                                                                                      n):
    """K-FAC (type-2 Fisher) on a deep linear network: input covariance A_i, gradient
    covariance 2 N B_i, the block (2 N B_i) kron A_i in torch order, equal to the exact
    diagonal block (K-FAC is exact there for linear layers, any S); it is not the full GN:
    the off-diagonal blocks are missing (the gap is measured)."""
    cl = pytest.importorskip("curvlinops")
    net, task = _case(widths, n)
    prob = interop.to_torch(net, task, n_samples=n)
    kfac = cl.KFACLinearOperator(prob.model, prob.loss_func, prob.params, prob.data,
                                 fisher_type="type-2")  # factors computed here
    for k, (a, b) in enumerate(interop.kfac_factors(net, task)):
        np.testing.assert_allclose(kfac._input_covariances[str(k)].numpy(), a, rtol=1e-10,
                                   atol=1e-13)
        np.testing.assert_allclose(kfac._gradient_covariances[str(k)].numpy(), 2 * n * b,
                                   rtol=1e-10, atol=1e-13)
    v = np.random.default_rng(2).standard_normal((net.flat().size, 3))
    got = (kfac @ torch.as_tensor(v)).numpy()
    want = 2 * n * _blocks_times(net, interop.diagonal_blocks(net, task), v)
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()
    full = 2 * n * interop.gauss_newton(net, task) @ v
    gap = np.linalg.norm(got - full) / np.linalg.norm(full)
    assert gap > 1e-2  # the cross-layer curvature K-FAC leaves out


@pytest.mark.parametrize("damping", [1e-3, 0.1])
def test_curvlinops_kfac_inverse_damping_conventions(damping):
    """Heuristic damping (Martens and Grosse's pi split: A + pi sqrt(eps) I and
    G + sqrt(eps)/pi I, pi^2 = (tr A / dim A) / (tr G / dim G)) is dlnsim's rules.kfac
    convention; exact damping inverts (G kron A) + eps I. Both against dense inverses of
    dlnsim's factors, and they differ from each other by a measured amount."""
    cl = pytest.importorskip("curvlinops")
    net, task = _case((3, 4, 2, 3), 5)
    n = 5
    prob = interop.to_torch(net, task, n_samples=n)
    kfac = cl.KFACLinearOperator(prob.model, prob.loss_func, prob.params, prob.data,
                                 fisher_type="type-2")
    v = np.random.default_rng(3).standard_normal((net.flat().size, 2))
    heuristic = (cl.KFACInverseLinearOperator(kfac, damping=damping,
                                              use_heuristic_damping=True)
                 @ torch.as_tensor(v)).numpy()
    exact = (cl.KFACInverseLinearOperator(kfac, damping=damping, use_exact_damping=True)
             @ torch.as_tensor(v)).numpy()
    want_h, want_e = [], []
    for (a, b) in interop.kfac_factors(net, task):
        g = 2 * n * b
        pi = math.sqrt((np.trace(a) / a.shape[0]) / (np.trace(g) / g.shape[0]))
        s = math.sqrt(damping)
        want_h.append(np.linalg.inv(interop.kfac_block(a + pi * s * np.eye(a.shape[0]),
                                                       g + s / pi * np.eye(g.shape[0]))))
        blk = interop.kfac_block(a, g)
        want_e.append(np.linalg.inv(blk + damping * np.eye(blk.shape[0])))
    np.testing.assert_allclose(heuristic, _blocks_times(net, want_h, v), rtol=1e-8)
    np.testing.assert_allclose(exact, _blocks_times(net, want_e, v), rtol=1e-8)
    assert np.linalg.norm(heuristic - exact) > 1e-3 * np.linalg.norm(exact)


def test_curvlinops_empirical_fisher_is_4n_times_dlnsims_and_not_the_true_fisher():
    """Per-example gradients of ||f - y||^2 are 2 J_n^T r_n, so curvlinops' EF (sum) is
    4 sum_n g_n g_n^T = 4 N EF; away from the minimum EF != H (the true Fisher); at the
    minimum EF = 0."""
    cl = pytest.importorskip("curvlinops")
    net, task = _case((3, 4, 2, 3), 6)
    prob = interop.to_torch(net, task, n_samples=6)
    ef = cl.EFLinearOperator(prob.model, prob.loss_func, prob.params, prob.data)
    v = np.random.default_rng(4).standard_normal((net.flat().size, 3))
    want = 4 * 6 * interop.empirical_fisher(prob) @ v
    got = (ef @ torch.as_tensor(v)).numpy()
    assert np.abs(got - want).max() <= 1e-10 * np.abs(want).max()
    h = interop.gauss_newton(net, task)
    assert np.linalg.norm(interop.empirical_fisher(prob) - h) > 1e-2 * np.linalg.norm(h)
    at_min = interop.to_torch(net, Task(target=net.map, input_cov=task.input_cov), 6)
    assert np.abs(interop.empirical_fisher(at_min)).max() < 1e-20
    with pytest.raises(TypeError, match="problem must be a dlnsim.interop.TorchProblem"):
        interop.empirical_fisher(net)


def test_curvlinops_cg_inverse_of_the_damped_ggn_is_the_q1_ngd_direction():
    """CG on (GGN / 2N + eps I) x = g equals interop.qngd_direction(q=1, eps)."""
    cl = pytest.importorskip("curvlinops")
    from curvlinops._torch_base import PyTorchLinearOperator

    net, task = _case((3, 4, 2, 3), 5)
    prob = interop.to_torch(net, task, n_samples=5)
    ggn = cl.GGNLinearOperator(prob.model, prob.loss_func, prob.params, prob.data)
    eps = 1e-2
    p = net.flat().size

    class Damped(PyTorchLinearOperator):
        SELF_ADJOINT = True

        def __init__(self):
            super().__init__(ggn._in_shape, ggn._out_shape)

        def _matmat(self, x):
            return [a / (2 * 5) + eps * b for a, b in zip(ggn._matmat(x), x)]

        def _adjoint(self):
            return self

        @property
        def device(self):
            return ggn.device

        @property
        def dtype(self):
            return ggn.dtype

    inv = cl.CGInverseLinearOperator(Damped(), tolerance=1e-13, max_iter=10 * p,
                                     eps=1e-300, stop_updating_after=1e-300)
    g = np.concatenate([x.ravel() for x in curvature.gradient(net, task.target,
                                                              task.input_cov)])
    got = (inv @ torch.as_tensor(g)).numpy()
    want = interop.qngd_direction(net, task, 1.0, eps)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12 * np.abs(want).max())


# -- BackPACK ----------------------------------------------------------------------------------
@pytest.mark.parametrize("widths,n", CASES)
def test_backpack_exact_ggn_diagonal_and_kflr_are_dlnsims(widths, n):
    """BackPACK with MSELoss(reduction='sum'): DiagGGNExact is diag(2 N H); KFLR gives
    [2 N B_i, A_i] per layer (output-side factor first)."""
    bp = pytest.importorskip("backpack")
    from backpack.extensions import KFLR, DiagGGNExact

    net, task = _case(widths, n)
    prob = interop.to_torch(net, task, n_samples=n)
    model, loss_func = bp.extend(prob.model), bp.extend(prob.loss_func)
    loss = loss_func(model(prob.inputs), prob.targets)
    with bp.backpack(DiagGGNExact(), KFLR()):
        loss.backward()
    diag = interop.to_flat([p.diag_ggn_exact for p in model.parameters()])
    np.testing.assert_allclose(diag, 2 * n * np.diag(interop.gauss_newton(net, task)),
                               rtol=1e-10, atol=1e-12)
    for p, (a, b) in zip(model.parameters(), interop.kfac_factors(net, task)):
        out_side, in_side = (f.detach().numpy() for f in p.kflr)
        np.testing.assert_allclose(out_side, 2 * n * b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(in_side, a, rtol=1e-10, atol=1e-12)


def test_the_tasks_own_samples_give_the_same_curvature_and_gradient():
    """data='task': a teacher-student task's samples (second moment S = I exactly, labels with
    noise); the loss differs by the task's offset, the GN matrix (curvlinops) does not."""
    task = Task.teacher_student(n=3, rank=2, samples=7, noise=0.3, seed=1)
    net = Network.random((3, 4, 3), scale=0.7, seed=2)
    prob = interop.to_torch(net, task, data="task")
    m = net.map - task.target
    assert prob.n_samples == 7
    assert prob.loss() == pytest.approx(0.5 * np.sum(m * m) + task.loss_offset, rel=1e-12)
    cl = pytest.importorskip("curvlinops")
    ggn = cl.GGNLinearOperator(prob.model, prob.loss_func, prob.params, prob.data)
    v = np.random.default_rng(6).standard_normal((net.flat().size, 2))
    np.testing.assert_allclose((ggn @ torch.as_tensor(v)).numpy() / (2 * 7),
                               interop.gauss_newton(net, task) @ v, rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="needs a task with samples"):
        interop.to_torch(net, Task(target=task.target), data="task")
    with pytest.raises(ValueError, match="data must be"):
        interop.to_torch(net, task, data="samples")
