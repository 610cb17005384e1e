"""From a rule to the vector field a solver integrates (:meth:`dlnsim.rules.Rule.field`).

The one place where flat solver states meet a rule: ``field(y, idx)`` unpacks the flat states
``y`` of members ``idx`` into layers (:meth:`Stack.unpack`), asks the rule for its velocity,
and packs it back, times the members' learning rates. A discrete-time optimiser (K-FAC's
moving averages, HCGD's momentum, noise, minibatches) keeps one state per member and one
random generator per member and stochastic transform (child ``b`` of the transform's seed), and
advances them once per call: the discrete stepper calls the field once per step and member.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlnsim.rules.stack import Context


def vector_field(rule, stack, lr) -> Callable:
    """``field(y, idx)``: ``lr[idx]`` times ``rule``'s velocity at the flat states ``y``.

    Parameters
    ----------
    rule : Rule
        The rule (checked against ``stack`` by the caller).
    stack : Stack or ModeStack
        The members.
    lr
        One learning rate per member (an array of the stack's namespace).

    Returns
    -------
    callable
    """
    b = stack.weights[0].shape[0]
    states = list(rule.init(stack)) if rule.discrete_only else None
    rngs = _generators(rule, b) if rule.discrete_only else None
    count = np.zeros(b, dtype=np.int64)

    def field(y, idx):
        sub = stack.take(idx, stack.unpack(y))
        if states is None:
            v = rule.stack_velocity(sub)
        else:
            v = _stateful_velocity(rule, sub, states, rngs, count, np.asarray(idx), lr[idx])
        return lr[idx][:, None] * stack.pack(v)

    return field


def stall_hint(rule) -> str:
    """What might help when a run of ``rule`` stalls (added to a step-size-underflow message):
    near a singular preconditioner, damping; otherwise a stiffness remedy."""
    if any("ngd" in t.name for t in rule.transforms):
        return "damping the preconditioner (rules.ngd(..., damping=1e-6)) regularises it"
    return "try method='discrete', a smaller lr, or an implicit solver such as 'Radau'"


def _stateful_velocity(rule, sub, states: list, rngs, count, idx, lr):
    """One discrete step of a stateful rule for members ``idx``; writes their states back."""
    own = tuple(_take_state(s, idx) for s in states)
    ctxs = [Context(lr, tuple(g[i] for i in idx) if g is not None else (), int(count[idx[0]]))
            for g in rngs]
    d, new = rule.update(sub, own, ctxs)
    for j, s in enumerate(new):
        states[j] = _put_state(states[j], idx, s)
    count[idx] += 1
    return tuple(-p for p in d.params)


def _take_state(state, idx):
    """The rows ``idx`` of a state: arrays with a leading member axis, in dicts and tuples."""
    if state is None:
        return None
    if isinstance(state, dict):
        return {k: _take_state(v, idx) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_take_state(v, idx) for v in state)
    return state[idx]


def _put_state(state, idx, new):
    """Write the rows ``idx`` of ``new`` into ``state`` (same structure); returns ``state``."""
    if isinstance(state, dict):
        return {k: _put_state(state[k], idx, new[k]) for k in state}
    if isinstance(state, (list, tuple)):
        return type(state)(_put_state(o, idx, v) for o, v in zip(state, new))
    if state is None:
        return None
    state[idx] = new
    return state


def _generators(rule, b: int) -> list:
    """Per transform: one generator per member (child ``b`` of the transform's seed), or None."""
    out = []
    for t in rule.transforms:
        if t.stochastic:
            out.append([np.random.default_rng(s)
                        for s in np.random.SeedSequence(t.seed).spawn(b)])
        else:
            out.append(None)
    return out


__all__ = ["vector_field"]
