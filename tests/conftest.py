"""Test-run settings.

Hypothesis profiles: CI runs a fixed set of examples (no flaky reds); locally the default
profile explores new random examples on every run. Select with HYPOTHESIS_PROFILE=ci|dev;
`.ci/run` sets HYPOTHESIS_PROFILE=ci explicitly.

Each pytest-xdist worker uses one BLAS/OpenMP thread: two workers on two cores with
multi-threaded, spin-waiting BLAS run several times slower than one worker alone. numpy is not
imported yet when a worker loads this file, so the setting takes effect.
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
