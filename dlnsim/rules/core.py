"""One idea of an update rule: a chain of small transforms of the loss gradient (as in optax).

A rule starts from the loss gradient, applies its transforms, and moves the weights by minus
the result: ``dw/dt = -lr * (T_k o ... o T_1)(g)`` in continuous time, ``w <- w - lr * (...)``
in discrete time. Each transform has a :class:`Stage`, and a chain applies them in stage order,
whatever order they are written in, so the semantics follow the names (Zhang et al., eqs 6-7):

* ``l2(lam)`` adds ``lam w`` to the gradient *before* any preconditioner;
* a preconditioner (``ngd``, ``kfac``, ``tkfac``, ``hcgd``): at most one per chain;
* ``clip(c)`` rescales the preconditioned direction;
* ``weight_decay(lam)`` adds ``lam w`` *after* it (decoupled decay).

The protocol is ``init(stack) -> state`` and ``update(direction, stack, state, ctx) ->
(direction, state)``; a stateless transform only defines ``apply(direction, stack)``. Stateful
transforms (K-FAC's moving averages, HCGD's momentum) and stochastic ones (noise, minibatches)
run in discrete time only, once per step, with a per-member random generator in ``ctx``.

Transforms act on a :class:`Stack` (``B`` networks and their tasks as arrays of one array-API
namespace) or on a :class:`ModeStack` (singular-mode strengths, Huh 2020 eqs 5-21): the same
chain gives the full-matrix field and the singular-mode field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from array_api_compat import is_numpy_namespace

from dlnsim.network import Network
from dlnsim.rules.stack import Context, Direction, Stack
from dlnsim.task import Task


class NeedsDiscreteTime(TypeError, ValueError):
    """A rule that keeps state or draws random numbers (the papers' discrete-time optimisers)
    asked for a velocity field: an ODE run, a singular-mode run, ``Rule.velocity``. One
    message everywhere; a ``TypeError`` (the rule is of the wrong kind for a field) and a
    ``ValueError`` (``method="ode"`` is the wrong value for the rule).

    Parameters
    ----------
    rule_name : str
        The rule's name, for the message.
    """

    def __init__(self, rule_name: str):
        super().__init__(f"rule {rule_name} is a discrete-time optimiser (it keeps state or "
                         "draws random numbers) and has no velocity field: run it with "
                         "simulate(..., method='discrete')")


class Stage(IntEnum):
    """Where a transform acts in a chain (chains apply transforms in this order)."""

    GRADIENT = 0      # the gradient estimate: minibatches replace it, noise is added to it
    REGULARIZE = 1    # l2: lam w added to the gradient before any preconditioner (eq 6)
    PRECONDITION = 2  # ngd, kfac, tkfac, hcgd: at most one per chain
    RESCALE = 3       # clip: the preconditioned direction's speed
    DECAY = 4         # weight_decay: lam w added after the preconditioner (eq 7)
    LAYER_RATES = 5   # layer_rates: each layer's whole update scaled by its own rate


class Transform:
    """One step of a rule. Subclasses set ``name`` and ``stage`` and define :meth:`apply`
    (stateless) or :meth:`init` and :meth:`update` (stateful, discrete time only)."""

    name: str = "transform"
    stage: Stage = Stage.PRECONDITION
    stateful: bool = False        # carries state between steps: discrete time only
    stochastic: bool = False      # draws random numbers from ctx.rngs: discrete time only
    replaces_gradient: bool = False
    has_modes: bool = True        # acts on singular modes (ModeStack) too
    numpy_only: bool = False      # written with numpy calls, not the array API
    seed: int | None = None

    def init(self, stack: Stack) -> Any:
        """Per-member state: a list with one entry per member (None for stateless).

        Parameters
        ----------
        stack : Stack
            The members.

        Returns
        -------
        list or None
        """
        return None

    def update(self, d: Direction, stack: Stack, state: Any, ctx: Context):
        """``(direction, state)`` after this transform; ``state`` is the members' list.

        Parameters
        ----------
        d : Direction
            The direction so far.
        stack : Stack
            The members.
        state
            The members' states.
        ctx : Context
            The step's learning rates, generators and number.

        Returns
        -------
        tuple
            ``(direction, state)``.
        """
        return self.apply(d, stack), state

    def apply(self, d: Direction, stack: Stack) -> Direction:
        """The direction after this transform (stateless transforms define it).

        Parameters
        ----------
        d : Direction
            The direction so far (the loss gradient, transformed by the earlier stages).
        stack : Stack or ModeStack
            The members the direction belongs to.

        Returns
        -------
        Direction
        """
        raise NotImplementedError(f"{self.name} needs update(direction, stack, state, ctx)")

    def check(self, stack: Stack) -> None:
        """Refuse, before any work, a stack this transform cannot act on (``ValueError``).

        Parameters
        ----------
        stack : Stack or ModeStack
            The members to run.
        """

    def dense(self, v: np.ndarray, ctx) -> np.ndarray:
        """This transform on the flat dense vector ``v``, by the slow, obvious route that
        :func:`dlnsim.testing.dense_velocity` judges fast paths with.

        Parameters
        ----------
        v : numpy.ndarray
            The flat direction so far (shape ``(P,)``).
        ctx : dlnsim.testing.DenseContext
            The dense Gauss-Newton matrix, the flat weights, the layers' slices, the depth.

        Returns
        -------
        numpy.ndarray

        Raises
        ------
        TypeError
            A transform without a dense form (the papers' discrete-time optimisers).
        """
        raise TypeError(f"transform {self.name} has no dense form: give it dense(v, ctx)")

    def decomposition_size(self, widths: Sequence[int]) -> int:
        """The largest matrix dimension this transform factorizes per step on a network of
        ``widths`` (what :mod:`dlnsim.threads` sizes the BLAS threads by): a width, unless a
        transform works on larger matrices.

        Parameters
        ----------
        widths : sequence of int
            ``(n_0, ..., n_d)``.

        Returns
        -------
        int
        """
        return max(widths)

    def __repr__(self) -> str:
        return self.name


class Optimiser(Transform):
    """Base of the papers' discrete-time optimisers (K-FAC, HCGD, noisy and minibatch SGD):
    they act on full matrices only, so a singular-mode stack is refused before any work."""

    has_modes = False
    numpy_only = True


@dataclass(frozen=True)
class Rule:
    """A chain of transforms, applied in stage order to the loss gradient (:func:`chain`).

    Parameters
    ----------
    transforms
        The transforms, in stage order (build chains with :func:`chain`, which sorts them).
    """

    transforms: tuple[Transform, ...] = ()

    @property
    def name(self) -> str:
        """The transforms' names joined by arrows, e.g. ``ngd(q=2) -> weight_decay(0.001)``."""
        return " -> ".join(t.name for t in self.transforms) or "gd"

    @property
    def discrete_only(self) -> bool:
        """Whether the rule needs discrete time: a transform keeps state between steps or
        draws random numbers (the papers' optimisers), so it has no velocity field."""
        return any(t.stateful or t.stochastic for t in self.transforms)

    @property
    def stochastic(self) -> bool:
        """Whether a transform draws random numbers (noise, minibatches): discrete time only."""
        return any(t.stochastic for t in self.transforms)

    def decomposition_size(self, widths: Sequence[int]) -> int:
        """The largest of the transforms' :meth:`Transform.decomposition_size` for a network
        of ``widths`` ``(n_0, ..., n_d)`` (at least the largest width).

        Parameters
        ----------
        widths : sequence of int

        Returns
        -------
        int
        """
        return max([max(widths)] + [t.decomposition_size(widths) for t in self.transforms])

    def check(self, stack, discrete: bool = False) -> None:
        """Refuse, before any work, a run this rule cannot make: a field asked of a
        discrete-time optimiser, or a stack some transform cannot act on.

        Parameters
        ----------
        stack : Stack or ModeStack
            The members to run.
        discrete : bool
            Whether the run takes discrete steps (else it needs a velocity field).

        Raises
        ------
        NeedsDiscreteTime
            A discrete-time optimiser outside discrete time.
        ValueError
            A transform that cannot act on the stack (singular modes, torch arrays, a shape).
        """
        if self.discrete_only and not discrete:
            raise NeedsDiscreteTime(self.name)
        for t in self.transforms:
            if stack.is_modes and not t.has_modes:
                raise ValueError(f"{t.name} has no singular-mode form (it needs full matrices)")
            if t.numpy_only and not is_numpy_namespace(stack.xp):
                raise ValueError(f"{t.name} runs on numpy arrays only: use backend='numpy'")
            t.check(stack)

    def _stateless(self) -> None:
        if self.discrete_only:
            raise NeedsDiscreteTime(self.name)

    def field(self, stack, lr):
        """The vector field a solver integrates: ``field(y, idx)`` is ``lr`` times this
        rule's velocity for the members ``idx`` of ``stack`` at the flat states ``y`` (shape
        ``(len(idx), P)``). A discrete-time optimiser's field advances its per-member state
        and random generators once per call (one call a step); see
        :func:`dlnsim.rules.field.vector_field`.

        Parameters
        ----------
        stack : Stack or ModeStack
            The members and their tasks (checked with :meth:`check` first).
        lr
            One learning rate per member (an array of the stack's namespace).

        Returns
        -------
        callable
        """
        from dlnsim.rules.field import vector_field

        return vector_field(self, stack, lr)

    def direction(self, net: Network, task: Task) -> Direction:
        """The transformed gradient (the velocity is its negative), as numpy arrays.

        Parameters
        ----------
        net : Network
            The network.
        task : Task
            Its task.

        Returns
        -------
        Direction
        """
        stack = _single_stack(net, task)
        self._stateless()
        self.check(stack)
        d = self.stack_direction(stack)
        return Direction(tuple(p[0] for p in d.params),
                         None if d.cotangent is None else d.cotangent[0])

    def stack_direction(self, stack) -> Direction:
        """The transformed gradient on a stack (any namespace, any ensemble size).

        Parameters
        ----------
        stack : Stack or ModeStack
            The members (any namespace, any ensemble size).

        Returns
        -------
        Direction
        """
        self._stateless()
        d = stack.gradient()
        for t in self.transforms:
            d = t.apply(d, stack)
        return d

    def velocity(self, net: Network, task: Task) -> tuple[np.ndarray, ...]:
        """``dw/dt`` at unit learning rate: minus the transformed gradient, one array a layer.

        Parameters
        ----------
        net : Network
            The network.
        task : Task
            Its task.

        Returns
        -------
        tuple of numpy.ndarray
            One array per layer, shaped like the weights.
        """
        return tuple(-p for p in self.direction(net, task).params)

    def stack_velocity(self, stack) -> tuple:
        """``dw/dt`` at unit learning rate for every member of a stack.

        Parameters
        ----------
        stack : Stack or ModeStack
            The members.

        Returns
        -------
        tuple
            One stacked array per layer.
        """
        return tuple(-p for p in self.stack_direction(stack).params)

    def init(self, stack) -> tuple:
        """Every transform's state for the members of ``stack``.

        Parameters
        ----------
        stack : Stack
            The members.

        Returns
        -------
        tuple
            One state per transform.
        """
        return tuple(t.init(stack) for t in self.transforms)

    def update(self, stack, states: tuple, ctxs: Sequence[Context]) -> tuple[Direction, tuple]:
        """One discrete step: the direction and the new states (``ctxs``: one per transform).

        Parameters
        ----------
        stack : Stack
            The members.
        states : tuple
            The transforms' states (:meth:`init`).
        ctxs : sequence of Context
            One per transform.

        Returns
        -------
        tuple
            ``(direction, states)``.
        """
        d = stack.gradient()
        new = []
        for t, s, c in zip(self.transforms, states, ctxs):
            d, s = t.update(d, stack, s, c)
            new.append(s)
        return d, tuple(new)

    def __str__(self) -> str:
        return self.name


def chain(*rules: Rule | Transform) -> Rule:
    """Compose rules into one, applied in stage order (:class:`Stage`), whatever the order
    written: ``chain(weight_decay(lam), ngd(q))`` is decoupled decay after q-NGD.

    Parameters
    ----------
    *rules
        Rules or single transforms.

    Returns
    -------
    Rule
        One flat chain, its transforms sorted by stage.

    Raises
    ------
    ValueError
        A chain that cannot mean what it says: two preconditioners, or two transforms that
        each replace the gradient (two minibatch samplers).
    """
    ts = []
    for i, r in enumerate(rules):
        if isinstance(r, Rule):
            ts += list(r.transforms)
        elif isinstance(r, Transform):
            ts.append(r)
        else:
            raise TypeError(f"chain argument {i} must be a Rule, got {type(r).__name__}")
    pre = [t.name for t in ts if t.stage == Stage.PRECONDITION]
    if len(pre) > 1:
        raise ValueError(f"a chain holds at most one preconditioner, got {', '.join(pre)}")
    src = [t.name for t in ts if t.replaces_gradient]
    if len(src) > 1:
        raise ValueError(f"a chain holds at most one gradient estimate, got {', '.join(src)}")
    return Rule(tuple(sorted(ts, key=lambda t: int(t.stage))))


def check_pair(net, task, where: str = "") -> None:
    """``net`` is a Network and ``task`` a Task with a target shaped like its map."""
    if not isinstance(net, Network):
        raise TypeError(f"net{where} must be a dlnsim.Network, got {type(net).__name__}")
    if not isinstance(task, Task):
        raise TypeError(f"task{where} must be a dlnsim.Task, got {type(task).__name__}")
    if net.map.shape != task.target.shape:
        raise ValueError(f"task{where}'s target has shape {task.target.shape} but the "
                         f"network's map has shape {net.map.shape}")


def _single_stack(net: Network, task: Task) -> Stack:
    check_pair(net, task)
    return Stack.from_network(net, task)
