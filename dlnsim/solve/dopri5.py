"""Dormand-Prince 5(4): one step of the pair for every row, with its error estimate.

With :class:`~dlnsim.solve.controllers.ErrorControl` (scipy's controller and initial step) and
one save interval it takes the steps of ``scipy.integrate.RK45`` (tests/test_solve.py); steps
are shortened to land on the save times, so nothing is interpolated.
"""

from __future__ import annotations

import numpy as np

from dlnsim.solve.base import Step, column, finite_rows, zero_rows

# Dormand & Prince (1980), the 5(4) pair with the FSAL property.
A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
# Error estimate: 5th-order minus embedded 4th-order weights (seven stages, the last is FSAL).
E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)
ORDER = 4  # of the embedded method, for the controller's exponent


def _combine(coefs, ks):
    return sum(c * k for c, k in zip(coefs, ks) if c != 0.0)


class Dopri5:
    """Six new stages per step; the state is the first-same-as-last stage ``f(y)``."""

    order = ORDER

    def init(self, call, y0):
        return call(y0)

    def step(self, call, y, h: np.ndarray, f) -> Step:
        """One step; a stage that is not finite, or a field that raises ``ArithmeticError``
        at a stage (a trial point, not the state), flags its rows (all rows for a raise) so
        that the controller rejects them and the loop retries with a shorter step."""
        hd = column(h, y)
        ks = [f]
        bad = np.zeros(y.shape[0], dtype=bool)
        try:
            for s in range(1, 6):
                ys = y + hd * _combine(A[s], ks)
                bad |= ~finite_rows(ys)
                ks.append(call(zero_rows(ys, bad)))
            y_new = y + hd * _combine(B, ks)
            bad |= ~finite_rows(y_new)
            f_new = call(zero_rows(y_new, bad))
        except ArithmeticError as exc:
            return Step(y, np.zeros(y.shape[0], dtype=bool), failure=exc)
        ks.append(f_new)
        bad |= ~finite_rows(*ks)
        return Step(y_new, ~bad, error=hd * _combine(E, ks), state=f_new)
