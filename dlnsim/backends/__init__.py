"""Where arrays live: numpy (the default) or torch (CPU or CUDA).

A backend only converts arrays and guards the vector field; the math is the same functions on
either namespace (:mod:`dlnsim.curvature`, :mod:`dlnsim.rules`, :mod:`dlnsim.modes`) and the
integration loop and steppers (:mod:`dlnsim.solve`) are shared too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

BACKENDS = ("numpy", "torch")


class FieldFailed(ArithmeticError):
    """A vector field's linear algebra failed (e.g. an eigensolver did not converge)."""


@dataclass(frozen=True)
class Backend:
    """How to place arrays for one run: ``asarray`` (numpy -> backend), ``to_numpy`` (back)."""

    name: str
    device: Any
    asarray: Any
    to_numpy: Any
    linalg_errors: tuple

    def guard(self, field):
        """``field`` with the backend's linear-algebra errors turned into :class:`FieldFailed`."""
        errors = self.linalg_errors

        def guarded(y, idx):
            try:
                return field(y, idx)
            except errors as exc:
                raise FieldFailed(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc

        return guarded

    def __str__(self) -> str:
        return self.name if self.device is None else f"{self.name}:{self.device}"


def get(backend: str = "numpy", device: str | None = None) -> Backend:
    """The backend called ``backend`` on ``device`` (torch only: ``"cpu"``, ``"cuda"``, ...)."""
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"device must be None or 'cpu' for backend='numpy', got {device!r}")
        return Backend("numpy", None, lambda x: np.array(x, dtype=np.float64),
                       lambda x: np.asarray(x), (np.linalg.LinAlgError,))
    if backend == "torch":
        from dlnsim.backends import torch as _torch

        return _torch.backend(device)
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
