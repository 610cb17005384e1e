"""A deep linear network as a torch problem, and its exact curvature in torch's order.

A deep linear network is the one multi-layer model whose Gauss-Newton matrix, K-FAC factors,
Fishers and their powers are known exactly: this module hands them to the torch ecosystem
(curvlinops, BackPACK, your own K-FAC) as references.

* :func:`to_torch` builds a ``torch.nn.Sequential`` of bias-free ``nn.Linear`` layers holding
  the network's weights, inputs ``X`` whose second moment ``X^T X / N`` is the task's input
  covariance exactly, targets ``Y = X W*^T`` and ``nn.MSELoss(reduction="sum")``.
  dlnsim's loss is ``L = mse_sum / (2 N)`` (:attr:`TorchProblem.loss_scale`).
* **Parameter order.** torch's ``model.parameters()`` lists the layers input first, each weight
  ``(n_out, n_in)`` flattened row-major: that is dlnsim's flat order (``Network.flat``), so the
  conversions :func:`to_parameters` and :func:`to_flat` only reshape.
* **Kronecker order.** Layer ``i``'s exact Gauss-Newton block is
  ``H_i = B_i kron A_i`` in torch's (row-major) order, with the output-side factor
  ``B_i = W_{>i}^T W_{>i}`` and the input-side factor ``A_i = W_{<i} S W_{<i}^T``
  (``vec_r(B U A) = (B kron A) vec_r(U)`` for symmetric ``A``); in column-major order
  (``vec_c``, Huh 2020, Zhang et al. 2019) the same block is ``A_i kron B_i``.
* **Scale conventions** of the libraries, for this problem (``N`` samples, MSE with
  ``reduction="sum"``, ``n_d`` outputs): curvlinops' ``GGNLinearOperator`` and BackPACK's
  ``DiagGGNExact`` are ``2 N H``; curvlinops' ``KFACLinearOperator`` (``fisher_type="type-2"``)
  is ``2 N (B_i kron A_i)`` with input covariance ``A_i`` and gradient covariance
  ``2 N B_i``; the empirical Fisher of ``EFLinearOperator`` is ``4 N`` times
  :func:`empirical_fisher`. With ``reduction="mean"`` replace ``2 N`` by ``2 / n_d``.
  ``tests/test_interop.py`` checks each against the real libraries.

torch is imported only by :func:`to_torch`, :func:`from_torch` and :func:`to_parameters`
(``pip install ".[interop]"`` installs it with curvlinops and BackPACK; ``".[torch]"`` alone
suffices for this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlnsim import _validate as V
from dlnsim import curvature
from dlnsim.curvature.dense import dense_power
from dlnsim.network import Network
from dlnsim.rules.core import check_pair
from dlnsim.task import Task


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised where torch is missing
        raise ImportError("dlnsim.interop needs torch: pip install 'dlnsim[interop]' (or "
                          "'dlnsim[torch]')") from exc
    return torch


@dataclass(frozen=True)
class TorchProblem:
    """A deep linear network and its task as torch objects (:func:`to_torch`).

    Parameters
    ----------
    model : torch.nn.Sequential
        Bias-free ``nn.Linear`` layers, input first, holding the network's weights.
    inputs : torch.Tensor
        ``X``, shape ``(N, n_0)``, with ``X^T X / N`` the task's input covariance.
    targets : torch.Tensor
        ``Y = X W*^T``, shape ``(N, n_d)``.
    loss_func : torch.nn.MSELoss
        With ``reduction="sum"``.
    """

    model: Any
    inputs: Any
    targets: Any
    loss_func: Any

    @property
    def n_samples(self) -> int:
        """``N``."""
        return int(self.inputs.shape[0])

    @property
    def loss_scale(self) -> float:
        """``1 / (2 N)``: dlnsim's loss is ``loss_scale * loss_func(model(X), Y)``."""
        return 0.5 / self.n_samples

    @property
    def params(self) -> list:
        """``list(model.parameters())``, in dlnsim's flat order."""
        return list(self.model.parameters())

    @property
    def data(self) -> list:
        """One batch ``[(X, Y)]``, as curvlinops' operators take it."""
        return [(self.inputs, self.targets)]

    def loss(self) -> float:
        """dlnsim's loss ``1/2 Tr[(W - W*) S (W - W*)^T]`` from the torch model.

        Returns
        -------
        float
        """
        torch = _torch()
        with torch.no_grad():
            return self.loss_scale * float(self.loss_func(self.model(self.inputs),
                                                          self.targets))


def whitened_inputs(input_cov, n_samples: int | None = None, seed: int = 0) -> np.ndarray:
    """Inputs ``X`` (``N x n_0``) with second moment ``X^T X / N = S`` exactly:
    ``sqrt(N) Q R`` with ``Q^T Q = I`` (random, from ``seed``) and ``R^T R = S`` (Cholesky).

    Parameters
    ----------
    input_cov : array_like
        ``S``, symmetric positive definite.
    n_samples : int, optional
        ``N >= n_0`` (default ``n_0``).
    seed : int
        Seed of ``Q``.

    Returns
    -------
    numpy.ndarray
    """
    cov = V.spd(input_cov, "input_cov")
    n0 = cov.shape[0]
    n = n0 if n_samples is None else V.positive_int(n_samples, "n_samples")
    if n < n0:
        raise ValueError(f"n_samples must be >= n_0 = {n0} for the inputs to have second "
                         f"moment S, got {n}")
    q, _ = np.linalg.qr(np.random.default_rng(V.seed(seed)).standard_normal((n, n0)))
    return np.sqrt(n) * q @ np.linalg.cholesky(cov).T


def to_torch(net: Network, task: Task, n_samples: int | None = None, seed: int = 0,
             device: str = "cpu", data: str = "exact") -> TorchProblem:
    """The network as a ``torch.nn.Sequential`` of bias-free ``nn.Linear`` layers (float64),
    with inputs of second moment ``S`` exactly and noise-free targets ``Y = X W*^T``, or the
    task's own samples.

    Parameters
    ----------
    net : Network
        The network.
    task : Task
        Its task; its target and input covariance (not its data, if any) define the problem.
    n_samples : int, optional
        ``N >= n_0`` (default ``n_0``).
    seed : int
        Seed of the inputs' rotation (:func:`whitened_inputs`).
    device : str
        torch device.
    data : {"exact", "task"}
        ``"exact"``: inputs built with second moment ``S`` and targets ``X W*^T``;
        ``"task"``: the task's own samples (``Task.teacher_student``), whose second moment is
        the task's ``S`` and whose least-squares map is its ``W*``, so the Gauss-Newton matrix
        and the gradient are the same and the loss differs by ``task.loss_offset``.

    Returns
    -------
    TorchProblem
        Its loss is dlnsim's, ``loss_func(model(X), Y) / (2 N)`` (:attr:`~TorchProblem.loss`;
        plus ``task.loss_offset`` with the task's samples).
    """
    check_pair(net, task)
    if data not in ("exact", "task"):
        raise ValueError(f"data must be 'exact' or 'task', got {data!r}")
    if data == "task":
        if task.inputs is None:
            raise ValueError("data='task' needs a task with samples (Task.teacher_student)")
        if n_samples is not None:
            raise ValueError("n_samples is for data='exact': the task's samples are given")
        x, y = task.inputs.T, task.outputs.T
    else:
        x = whitened_inputs(task.input_cov, n_samples, seed)
        y = x @ task.target.T
    torch = _torch()
    layers = []
    for w in net.weights:
        layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64,
                                device=device)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(w, dtype=torch.float64))
        layers.append(layer)
    inputs = torch.tensor(x, dtype=torch.float64, device=device)
    targets = torch.tensor(y, dtype=torch.float64, device=device)
    return TorchProblem(torch.nn.Sequential(*layers), inputs, targets,
                        torch.nn.MSELoss(reduction="sum"))


def from_torch(model) -> Network:
    """The network of a ``torch.nn.Sequential`` of bias-free ``nn.Linear`` layers.

    Parameters
    ----------
    model : torch.nn.Sequential
        Bias-free linear layers only, input first.

    Returns
    -------
    Network
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    weights = []
    for k, layer in enumerate(model):
        if not isinstance(layer, torch.nn.Linear):
            raise ValueError(f"model[{k}] is a {type(layer).__name__}, not an nn.Linear: a deep "
                             "linear network holds linear layers only")
        if layer.bias is not None:
            raise ValueError(f"model[{k}] has a bias: dlnsim's networks are bias-free")
        weights.append(layer.weight.detach().cpu().to(torch.float64).numpy().copy())
    if not weights:
        raise ValueError("model holds no layers")
    return Network(weights)


def to_parameters(net: Network, v) -> list:
    """dlnsim's flat vector(s) ``v`` (``(P,)`` or ``(P, k)``) as tensors shaped like
    ``model.parameters()`` (with a trailing ``k``): the same order, reshaped.

    Parameters
    ----------
    net : Network
        Gives the shapes.
    v : array_like
        Flat vector or matrix of columns.

    Returns
    -------
    list of torch.Tensor
    """
    torch = _torch()
    v = np.asarray(v, dtype=float)
    p = sum(w.size for w in net.weights)
    if v.shape[0] != p:
        raise ValueError(f"v must have {p} rows (the network's parameters), got {v.shape}")
    out, k = [], 0
    for w in net.weights:
        out.append(torch.tensor(v[k:k + w.size].reshape(w.shape + v.shape[1:])))
        k += w.size
    return out


def to_flat(tensors) -> np.ndarray:
    """Parameter-shaped tensors (a trailing ``k`` allowed) as dlnsim's flat ``(P,)`` or
    ``(P, k)`` array, inverse of :func:`to_parameters`.

    Parameters
    ----------
    tensors : sequence of torch.Tensor or numpy.ndarray
        One per layer, shaped like the weights (times ``k``).

    Returns
    -------
    numpy.ndarray
    """
    arrays = [np.asarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t, dtype=float)
              for t in tensors]
    trailing = arrays[0].shape[2:]
    return np.concatenate([a.reshape((-1,) + trailing) for a in arrays])


# -- exact references, in torch's (= dlnsim's flat) order -----------------------------------
def gauss_newton(net: Network, task: Task) -> np.ndarray:
    """The exact Gauss-Newton matrix ``H = J_R^T J_R`` (``P x P``): the Hessian of dlnsim's
    loss at a global minimum, the true Fisher of the unit-variance Gaussian likelihood.

    Parameters
    ----------
    net : Network
    task : Task

    Returns
    -------
    numpy.ndarray
    """
    return curvature.gauss_newton(net, task.input_cov)


def qngd_direction(net: Network, task: Task, q: float, damping: float = 0.0,
                   vector=None, rcond: float = 1e-12) -> np.ndarray:
    """``(H + eps I)^{-1/q} v`` (or the pseudo-inverse power without damping); ``v`` defaults
    to the loss gradient, so that the q-NGD step is ``-lr`` times the result.

    Parameters
    ----------
    net : Network
    task : Task
    q : float
        Curvature order, ``>= 1`` (``inf``: the identity).
    damping : float
        ``eps``.
    vector : array_like, optional
        ``v`` in torch's order, ``(P,)`` or ``(P, k)`` for ``k`` vectors at once (default: the
        gradient).
    rcond : float
        The pseudo-inverse's relative cutoff.

    Returns
    -------
    numpy.ndarray
    """
    q, damping = V.order_q(q), V.nonnegative(damping, "damping")
    if vector is None:
        v = np.concatenate([g.ravel() for g in curvature.gradient(net, task.target,
                                                                   task.input_cov)])
    else:
        v = np.asarray(vector, dtype=float)
    h = gauss_newton(net, task)
    if v.ndim == 2:
        return np.stack([dense_power(h, col, q, damping, rcond) for col in v.T], axis=1)
    return dense_power(h, v, q, damping, rcond)


def kfac_factors(net: Network, task: Task) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer ``(A_i, B_i)``: the input-side ``W_{<i} S W_{<i}^T`` and the output-side
    ``W_{>i}^T W_{>i}``, the exact K-FAC factors of a deep linear network (K-FAC is exact on
    the diagonal blocks here: the back-propagated output directions do not depend on ``x``).

    Parameters
    ----------
    net : Network
    task : Task

    Returns
    -------
    list of tuple
    """
    return [(np.asarray(a), np.asarray(b))
            for a, b in curvature.block_factors(net, task.input_cov)]


def kfac_block(a, b, order: str = "torch") -> np.ndarray:
    """The Kronecker block of factors ``A`` (input side) and ``B`` (output side):
    ``B kron A`` in torch's row-major order, ``A kron B`` in column-major order.

    Parameters
    ----------
    a, b : array_like
        The factors.
    order : {"torch", "column"}
        The vec convention of the parameters.

    Returns
    -------
    numpy.ndarray
    """
    if order not in ("torch", "column"):
        raise ValueError(f"order must be 'torch' or 'column', got {order!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.kron(b, a) if order == "torch" else np.kron(a, b)


def diagonal_blocks(net: Network, task: Task) -> list[np.ndarray]:
    """The exact diagonal blocks of :func:`gauss_newton`, cut from the dense matrix.

    Parameters
    ----------
    net : Network
    task : Task

    Returns
    -------
    list of numpy.ndarray
    """
    h, out, k = gauss_newton(net, task), [], 0
    for w in net.weights:
        out.append(h[k:k + w.size, k:k + w.size])
        k += w.size
    return out


def empirical_fisher(problem: TorchProblem) -> np.ndarray:
    """``(1/N) sum_n g_n g_n^T`` with the per-example gradients ``g_n = J_n^T (W x_n - y_n)``
    of the problem's model and data (the true Fisher is :func:`gauss_newton`; the two differ
    away from a minimum, and the empirical one vanishes at it).

    Parameters
    ----------
    problem : TorchProblem
        Its model (the network, read back by :func:`from_torch`), inputs and targets.

    Returns
    -------
    numpy.ndarray
    """
    if not isinstance(problem, TorchProblem):
        raise TypeError(f"problem must be a dlnsim.interop.TorchProblem, got "
                        f"{type(problem).__name__}")
    net = from_torch(problem.model)
    x = problem.inputs.detach().cpu().numpy()
    y = problem.targets.detach().cpu().numpy()
    g = np.array([_example_gradient(net, xn, net.map @ xn - yn) for xn, yn in zip(x, y)])
    return g.T @ g / len(g)


def _example_gradient(net: Network, x: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``J_n^T r``: layer ``i`` gets ``W_{>i}^T r (W_{<i} x)^T``, flat."""
    lows, below = [], x
    for w in net.weights:
        lows.append(below)
        below = w @ below
    grads, above = [None] * net.depth, r
    for i in range(net.depth - 1, -1, -1):
        grads[i] = np.outer(above, lows[i]).ravel()
        above = net.weights[i].T @ above
    return np.concatenate(grads)


def gn_norm_sq(net: Network, task: Task) -> float:
    """``theta^T H theta = d^2 Tr(W S W^T)`` (Zhang et al. 2019, Lemma 2, Theorem 1).

    Parameters
    ----------
    net : Network
    task : Task

    Returns
    -------
    float
    """
    return float(curvature.gn_norm_sq(net, task.input_cov))


__all__ = ["TorchProblem", "diagonal_blocks", "empirical_fisher", "from_torch", "gauss_newton",
           "gn_norm_sq", "kfac_block", "kfac_factors", "qngd_direction", "to_flat",
           "to_parameters", "to_torch", "whitened_inputs"]


def __dir__() -> list[str]:
    """The public names (tab completion and ``dir()`` show no imports)."""
    return sorted(__all__)
