"""The package version, defined here once: pyproject.toml reads it, ``dlnsim --version`` prints
it."""

__version__ = "0.1.0"
