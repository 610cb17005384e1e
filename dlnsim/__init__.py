"""dlnsim: an analytical deep-linear-network simulator.

Learning dynamics of deep linear networks under gradient descent, (fractional) natural
gradient, block-diagonal variants and weight decay. The layout and conventions are described
in the README's architecture section.
"""

from dlnsim import curvature, modes, rules, symbolic
from dlnsim._version import __version__
from dlnsim.integrate import simulate, simulate_ensemble
from dlnsim.network import Network
from dlnsim.task import Task
from dlnsim.trajectory import Ensemble, Trajectory

__all__ = ["Network", "Task", "Trajectory", "Ensemble", "simulate", "simulate_ensemble", "rules",
           "modes", "curvature", "symbolic", "__version__"]
