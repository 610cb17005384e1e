"""Argument checks shared by every public entry point.

Each check raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for a value
of the right kind but the wrong form, always naming the argument and what was expected.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def real_array(x, name: str, what: str = "an array of real numbers") -> np.ndarray:
    """``x`` as a fresh float64 array. Refused with ``TypeError`` naming ``name``: complex
    values (numpy would drop the imaginary part with only a warning), booleans, strings, None,
    objects and ragged nesting."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be {what}, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(f"{name} must be {what} ({str(exc).splitlines()[0]})") from None
    if np.iscomplexobj(a):
        raise TypeError(f"{name} must be real, got a complex array")
    if a.dtype.kind not in "iuf":
        kind = {"b": "booleans", "U": "strings", "S": "bytes", "O": "objects"}.get(
            a.dtype.kind, str(a.dtype))
        raise TypeError(f"{name} must be {what}, got {kind}")
    return np.array(a, dtype=np.float64, copy=True)


def as_matrix(x, name: str, shape: tuple[int | None, int | None] | None = None) -> np.ndarray:
    """Return ``x`` as a finite float64 2-D array (a fresh, read-only copy)."""
    a = real_array(x, name, "a 2-D array of real numbers")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must be non-empty, got shape {a.shape}")
    if shape is not None:
        for axis, want in enumerate(shape):
            if want is not None and a.shape[axis] != want:
                raise ValueError(
                    f"{name} must have shape {tuple('*' if s is None else s for s in shape)}, "
                    f"got {a.shape}"
                )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    a.setflags(write=False)
    return a


def real(x, name: str) -> float:
    """Return ``x`` as a Python float, rejecting bools, strings, complex numbers and NaN."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    v = float(x)
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def positive(x, name: str) -> float:
    v = real(x, name)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return v


def nonnegative(x, name: str) -> float:
    v = real(x, name)
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return v


def vector(x, name: str, n: int | None = None) -> np.ndarray:
    """A finite real 1-D array (of length ``n`` where given)."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be an array of real numbers")
    if np.iscomplexobj(x):
        raise TypeError(f"{name} must be real, got a complex array")
    a = np.atleast_1d(np.array(x, dtype=float))
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = f"({n},)" if n is not None else "(m,)"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def positive_int(x, name: str) -> int:
    """A positive integer (Python or numpy; bools refused)."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {type(x).__name__} {x!r}")
    if x < 1:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


def index(x, name: str, n: int, negative: bool = False) -> int:
    """An index into ``n`` items: an integer (Python or numpy; bools refused) in ``[0, n)``,
    or in ``[-n, n)`` where ``negative``."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    if not (-n if negative else 0) <= x < n:
        raise ValueError(f"{name} must be in [0, {n}), got {x}")
    return int(x)


def order_q(q, name: str = "q") -> float:
    """The curvature-correction order: a real number in [1, inf] (inf is gradient descent)."""
    v = real(q, name)
    if not v >= 1:
        raise ValueError(f"{name} must be >= 1 (1: NGD, 2: sqrt-NGD, inf: GD), got {q!r}")
    return v


def spd(x, name: str, n: int | None = None) -> np.ndarray:
    """A symmetric positive-definite matrix (symmetry to 1e-12 relative)."""
    a = as_matrix(x, name, (n, n))
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square, got shape {a.shape}")
    scale = max(np.abs(a).max(), np.finfo(float).tiny)
    if np.abs(a - a.T).max() > 1e-12 * scale:
        raise ValueError(f"{name} must be symmetric")
    if np.linalg.eigvalsh(a).min() <= 0:
        raise ValueError(f"{name} must be positive definite (SPD); its smallest eigenvalue is <= 0")
    return a


def time_grid(t, name: str = "t") -> np.ndarray:
    """Save times: a 1-D, finite, strictly increasing array with at least two entries."""
    a = real_array(t, name, "a 1-D array of times")
    if a.ndim != 1 or a.size < 2:
        raise ValueError(f"{name} must be a 1-D array of at least 2 times, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    if np.any(np.diff(a) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return a


def seed(x, name: str = "seed", allow_none: bool = False) -> int | None:
    """A random seed: an integer >= 0 (numpy integers too; bools refused)."""
    if x is None and allow_none:
        return None
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative integer, got {type(x).__name__} "
                        f"{x!r}")
    if x < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {x}")
    return int(x)
