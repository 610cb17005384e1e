"""Hypothesis profiles: CI runs a fixed set of examples (no flaky reds); locally the default
profile explores new random examples on every run. Select with HYPOTHESIS_PROFILE=ci|dev;
`.ci/run` sets HYPOTHESIS_PROFILE=ci explicitly."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
