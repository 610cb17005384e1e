"""dlnsim: an analytical deep-linear-network simulator.

Learning dynamics of deep linear networks under gradient descent, (fractional) natural
gradient, block-diagonal variants, weight decay and the papers' optimisers, checked against
closed forms, conservation laws and dense references. The layout and the conventions are in
the README's architecture section.
"""

from dlnsim._version import __version__

__all__ = ["Ensemble", "Limits", "Network", "Status", "Task", "Trajectory", "__version__",
           "curvature", "modes", "rules", "set_threads", "simulate", "simulate_ensemble",
           "symbolic", "threads"]

# Everything is imported on first use: ``import dlnsim`` costs nothing, so the command line
# can catch a Ctrl-C during its imports, and a script pays only for what it uses.
_NAMES = {"Ensemble": "trajectory", "Trajectory": "trajectory", "Limits": "solve",
          "Status": "solve", "Network": "network", "Task": "task", "simulate": "integrate",
          "simulate_ensemble": "integrate", "set_threads": "threads"}
_MODULES = ("curvature", "modes", "rules", "symbolic", "threads", "sweep", "testing", "plots",
            "verify")


def __getattr__(name: str):
    """Every public name and submodule, imported on first use (then cached here)."""
    import importlib

    if name in _NAMES:
        value = getattr(importlib.import_module(f"dlnsim.{_NAMES[name]}"), name)
    elif name in _MODULES:
        value = importlib.import_module(f"dlnsim.{name}")
    else:
        raise AttributeError(f"module 'dlnsim' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_MODULES))
