"""What a rule acts on: :class:`Stack` (``B`` networks and their tasks as arrays of one
array-API namespace, numpy or torch) and :class:`ModeStack` (singular-mode strengths, Huh 2020
eqs 5-21), the :class:`Direction` a transform maps to a direction, and the per-step
:class:`Context` of discrete-time optimisers. Both stacks pack and unpack the solvers' flat
states ``(B, P)`` (:meth:`Stack.unpack`, :meth:`Stack.pack`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
from array_api_compat import array_namespace

from dlnsim.curvature import batched
from dlnsim.network import Network, partial_products
from dlnsim.task import Task


@dataclass(frozen=True, eq=False)
class Stack:
    """``B`` networks and their tasks as stacked arrays of one namespace (numpy or torch).

    Parameters
    ----------
    weights
        One array per layer, shape ``(B, n_{i+1}, n_i)``.
    target
        ``W*``, shape ``(B, n_d, n_0)`` or ``(1, n_d, n_0)`` (shared by all members).
    input_cov, input_cov_sqrt
        ``S`` and ``S^{1/2}``, shape ``(B or 1, n_0, n_0)``; both None for whitened inputs.
    inputs, outputs
        Training data ``X`` (``n_0 x P``) and ``Y`` (``n_d x P``), leading ``B or 1``, for the
        rules that use data (K-FAC from statistics, minibatch SGD); None for tasks without.
    """

    weights: tuple
    target: Any
    input_cov: Any = None
    input_cov_sqrt: Any = None
    inputs: Any = None
    outputs: Any = None
    is_modes = False

    @classmethod
    def from_tasks(cls, tasks: Sequence[Task], asarray=np.asarray) -> Stack:
        """The tasks' arrays stacked by ``asarray`` (a backend's), without weights yet.

        Tasks that are all one object are stored once (leading dimension 1, shared).

        Parameters
        ----------
        tasks : sequence of Task
            One per member (or the same object for all).
        asarray : callable
            The backend's conversion to its arrays.

        Returns
        -------
        Stack
        """
        if all(tk is tasks[0] for tk in tasks):
            tasks = tasks[:1]

        def stacked(get):
            return asarray(np.stack([get(tk) for tk in tasks]))

        data = (None, None)
        shapes = {None if tk.inputs is None else tk.inputs.shape for tk in tasks}
        if len(shapes) == 1 and None not in shapes:
            data = (stacked(lambda tk: tk.inputs), stacked(lambda tk: tk.outputs))
        if all(tk.is_whitened for tk in tasks):
            return cls((), stacked(lambda tk: tk.target), None, None, *data)
        return cls((), stacked(lambda tk: tk.target), stacked(lambda tk: tk.input_cov),
                   stacked(lambda tk: tk.input_cov_sqrt), *data)

    @classmethod
    def from_network(cls, net: Network, task: Task) -> Stack:
        """A stack of one (numpy).

        Parameters
        ----------
        net : Network
            The network.
        task : Task
            Its task.

        Returns
        -------
        Stack
        """
        return replace(cls.from_tasks([task]), weights=tuple(w[None] for w in net.weights))

    def take(self, idx, weights: Sequence | None = None) -> Stack:
        """Members ``idx`` (an integer array of the stack's namespace); shared tasks stay.

        ``weights``, if given, are those members' new weights.

        Parameters
        ----------
        idx
            Member indices, an integer array of the stack's namespace.
        weights : sequence, optional
            Those members' new weights.

        Returns
        -------
        Stack
        """
        def rows(x):
            return x if x is None or x.shape[0] == 1 else x[idx]

        ws = tuple(w[idx] for w in self.weights) if weights is None else tuple(weights)
        return Stack(ws, rows(self.target), rows(self.input_cov), rows(self.input_cov_sqrt),
                     rows(self.inputs), rows(self.outputs))

    @cached_property
    def xp(self):
        """The array namespace of the stack (numpy or torch, via array-api-compat)."""
        return array_namespace(self.target, *self.weights)

    def unpack(self, y) -> tuple:
        """Flat states ``y`` of shape ``(k, P)`` as one array a layer, ``(k, n_{i+1}, n_i)``.

        Parameters
        ----------
        y
            Flat states (rows: members, in layer order, each layer row-major).

        Returns
        -------
        tuple
        """
        out, k, b = [], 0, y.shape[0]
        for w in self.weights:  # .reshape (numpy and torch): the field's hot path
            rows, cols = w.shape[-2:]
            out.append(y[:, k:k + rows * cols].reshape((b, rows, cols)))
            k += rows * cols
        return tuple(out)

    def pack(self, arrays) -> Any:
        """The inverse of :meth:`unpack`: one array a layer ``(k, ...)`` as ``(k, P)``.

        Parameters
        ----------
        arrays : sequence
            One array a layer, with a leading member axis.

        Returns
        -------
        array
        """
        xp = self.xp
        return xp.concat([xp.reshape(x, (x.shape[0], -1)) for x in arrays], axis=1)

    @property
    def is_whitened(self) -> bool:
        """Whether the inputs are whitened (``S = I``, stored as None)."""
        return self.input_cov is None

    @cached_property
    def parts(self) -> tuple[list, list]:
        """``W_{>i}`` and ``W_{<i}`` for every layer (:func:`partial_products`)."""
        return partial_products(self.weights)

    @cached_property
    def map(self):
        """Every member's map ``W = w_d...w_1``, shape ``(B, n_d, n_0)``."""
        return self.weights[-1] @ self.parts[1][-1]

    def gradient(self) -> Direction:
        """The loss gradient ``g = J^T (Delta S)`` with its cotangent ``Y = Delta R``.

        Returns
        -------
        Direction
            Per-layer gradients and the cotangent ``Y = Delta R`` (or ``Delta`` for ``S = I``).
        """
        delta = self.map - self.target
        if self.is_whitened:
            return Direction(batched.vjp(self.parts, delta), delta)
        return Direction(batched.vjp(self.parts, delta @ self.input_cov),
                         delta @ self.input_cov_sqrt)

    def member(self, b: int) -> Network:
        """Member ``b`` as a numpy :class:`Network`.

        Parameters
        ----------
        b : int
            Member index.

        Returns
        -------
        Network
        """
        return Network([np.asarray(w[b]) for w in self.weights])


@dataclass(frozen=True, eq=False)
class ModeStack:
    """Singular-mode strengths ``sigma`` of shape ``(..., modes, d)`` and targets ``s*`` of shape
    ``(..., modes)``: the aligned, balanced-frame reduction of the full-matrix dynamics (Huh
    2020, footnote 1). ``weights = (sigma,)`` so that the parameter-wise transforms (l2,
    weight_decay, clip) act on it unchanged; clipping is per leading index.

    Parameters
    ----------
    weights
        ``(sigma,)``, the strengths of shape ``(..., modes, d)``.
    target
        ``s*`` per mode, shape ``(..., modes)``.
    """

    weights: tuple
    target: Any
    is_modes = True

    @cached_property
    def xp(self):
        """The array namespace of the strengths (numpy or torch)."""
        return array_namespace(self.weights[0])

    unpack = Stack.unpack
    pack = Stack.pack

    def take(self, idx, weights: Sequence | None = None) -> ModeStack:
        """Members ``idx`` (targets shared by all stay); ``weights``: their new strengths.

        Parameters
        ----------
        idx
            Member indices.
        weights : sequence, optional
            ``(sigma,)`` of those members.

        Returns
        -------
        ModeStack
        """
        ws = tuple(w[idx] for w in self.weights) if weights is None else tuple(weights)
        target = self.target if self.target.shape[0] == 1 else self.target[idx]
        return ModeStack(ws, target)

    @cached_property
    def jacobian(self):
        """``j_i = prod_{k != i} sigma_k`` (:func:`dlnsim.curvature.batched.mode_jacobian`)."""
        return batched.mode_jacobian(self.weights[0])

    def gradient(self) -> Direction:
        """``dL/dsigma_i = sd j_i`` with ``sd = sbar - s*``, cotangent ``sd`` per mode.

        Returns
        -------
        Direction
            ``sd j_i`` per mode and layer, with the cotangent ``sd`` per mode.
        """
        sd = self.xp.prod(self.weights[0], axis=-1) - self.target
        return Direction((sd[..., None] * self.jacobian,), sd)


@dataclass(frozen=True, eq=False)
class Direction:
    """An update direction: per-layer stacks and, optionally, ``Y`` with ``params = J_R^T Y``.

    Parameters
    ----------
    params
        One array per layer, shaped like the stack's weights.
    cotangent
        The map-space ``Y`` with ``params = J_R^T Y`` exactly (the loss gradient has
        ``Y = Delta R``), or None once a transform has left the range of ``J_R^T``.
    """

    params: tuple
    cotangent: Any = None


@dataclass(frozen=True)
class Context:
    """What a discrete step gives a stateful or stochastic transform.

    Parameters
    ----------
    lr
        The members' step sizes (an array of the stack's namespace).
    rngs
        Their random generators, one per member, for this transform.
    step
        The step number.
    """

    lr: Any
    rngs: tuple = ()
    step: int = 0
