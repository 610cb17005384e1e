"""The torch backend: the same vector fields on float64 tensors, on CPU or CUDA.

Nothing here restates a formula: the rules, the curvature and the singular-mode field run
unchanged on tensors through ``array_api_compat``; this module only says where the tensors
live. Import it only where torch is installed (``pip install "dlnsim[torch]"``).
"""

from __future__ import annotations

import numpy as np

from dlnsim.backends import Backend


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the install
        raise ValueError("backend='torch' needs PyTorch: pip install 'dlnsim[torch]' "
                         "(torch==2.13.0)") from None
    return torch


def available() -> bool:
    """Whether torch can be imported."""
    try:
        _torch()
    except ValueError:
        return False
    return True


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    return available() and bool(_torch().cuda.is_available())


def backend(device: str | None = None) -> Backend:
    """A torch backend on ``device`` (default ``"cpu"``); float64 tensors."""
    torch = _torch()
    if device is None:
        device = "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got "
                        f"{type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device must name a torch device ('cpu', 'cuda', 'cuda:1'), got "
                         f"{device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: torch sees no CUDA device on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")

    def asarray(x):
        return torch.as_tensor(np.array(x, dtype=np.float64), dtype=torch.float64,
                               device=dev)

    def to_numpy(x):
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    return Backend("torch", str(dev), asarray, to_numpy, (torch.linalg.LinAlgError,))
