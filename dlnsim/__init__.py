"""dlnsim: an analytical deep-linear-network simulator.

Learning dynamics of deep linear networks under gradient descent, (fractional) natural
gradient, block-diagonal variants, weight decay and the papers' optimisers, checked against
closed forms, conservation laws and dense references. The layout and the conventions are in
the README's architecture section.
"""

from dlnsim import curvature, modes, rules, symbolic, threads
from dlnsim._version import __version__
from dlnsim.integrate import simulate, simulate_ensemble
from dlnsim.network import Network
from dlnsim.solve import Limits, Status
from dlnsim.task import Task
from dlnsim.threads import set_threads
from dlnsim.trajectory import Ensemble, Trajectory

__all__ = ["Ensemble", "Limits", "Network", "Status", "Task", "Trajectory", "__version__",
           "curvature", "modes", "rules", "set_threads", "simulate", "simulate_ensemble",
           "symbolic", "threads"]

_LAZY_MODULES = ("sweep", "testing", "plots", "verify")  # heavier imports, on first use


def __getattr__(name: str):
    """``dlnsim.sweep``, ``dlnsim.testing``, ``dlnsim.plots`` and ``dlnsim.verify`` on first
    use."""
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"dlnsim.{name}")
    raise AttributeError(f"module 'dlnsim' has no attribute {name!r}")
