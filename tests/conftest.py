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


# The refusal tests aim writers at device files (/dev/null). A bug that drops the check (a
# mutant of tools/mutation.py, say) would then rename a temporary file onto /dev/null as root
# and break the machine; renaming onto anything under /dev fails the test instead.
_replace, _rename = os.replace, os.rename


def _onto_device(dst) -> bool:
    return os.path.realpath(os.fspath(dst)).startswith("/dev/")


def _guarded(real):
    def move(src, dst, *args, **kwargs):
        if _onto_device(dst):
            raise AssertionError(f"a test tried to move a file onto the device {dst!r}")
        return real(src, dst, *args, **kwargs)
    return move


os.replace, os.rename = _guarded(_replace), _guarded(_rename)
