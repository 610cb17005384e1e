"""dlnsim.threads: BLAS/OpenMP threads for dlnsim's own hot loops, restored afterwards."""

from dataclasses import dataclass

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import dlnsim
from dlnsim import Limits, Network, Task, modes, rules, simulate, simulate_ensemble, threads
from dlnsim.rules.core import Stage, Transform


def blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@dataclass(frozen=True, eq=False)
class RecordThreads(Transform):
    """A transform that records the BLAS thread count it runs under and changes nothing."""

    seen: list = None
    name = "record_threads"
    stage = Stage.REGULARIZE

    def apply(self, d, stack):
        self.seen.append(blas_threads())
        return d


def recorded(rule, widths, **kw):
    seen = []
    chained = rules.chain(rule, rules.Rule((RecordThreads(seen),)))
    net = Network.random(widths, scale=0.3, seed=0)
    task = Task(np.eye(widths[-1], widths[0]))
    run = simulate(net, task, chained, [0, 2], method="discrete", quiet=True, **kw)
    assert run.success
    return set().union(*seen)


@pytest.fixture
def two_threads():
    """The caller's own setting: 2 BLAS threads (restored after the test)."""
    with threadpool_limits(limits=2, user_api="blas"):
        yield


def test_the_rule_gives_one_thread_below_the_measured_size_and_every_cpu_above():
    assert threads.threads_for(threads.MIN_PARALLEL_SIZE - 1) == 1
    assert threads.threads_for(16) == 1
    assert threads.threads_for(threads.MIN_PARALLEL_SIZE) == threads.available_cpus()


def test_precedence_explicit_then_set_threads_then_the_rule():
    assert threads.get_threads() is None
    assert threads.choose(16) == 1
    with threads.using(3):
        assert threads.get_threads() == 3
        assert threads.choose(16) == 3 and threads.choose(4096) == 3
        assert threads.choose(16, threads=2) == 2
    assert threads.get_threads() is None  # restored
    dlnsim.set_threads(2)
    try:
        assert threads.choose(16) == 2
    finally:
        dlnsim.set_threads(None)
    assert threads.choose(16) == 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                        ("2", TypeError), (True, TypeError)])
def test_bad_thread_counts_are_refused_naming_threads(bad, error):
    with pytest.raises(error, match="threads"):
        threads.set_threads(bad)
    with pytest.raises(error, match="threads"):
        Limits(threads=bad)
    assert threads.get_threads() is None


def test_simulate_runs_small_networks_on_one_thread_and_restores_the_callers(two_threads):
    assert blas_threads() == {2}
    assert recorded(rules.ngd(2.0), (4, 5, 5, 4)) == {1}
    assert blas_threads() == {2}  # the caller's numpy is untouched after the call


def test_limits_threads_and_set_threads_override_the_rule(two_threads):
    assert recorded(rules.ngd(2.0), (4, 5, 5, 4), limits=Limits(threads=2)) == {2}
    with threads.using(2):
        assert recorded(rules.gd(), (3, 3, 3)) == {2}
        # the run's own Limits(threads=...) comes first
        assert recorded(rules.gd(), (3, 3, 3), limits=Limits(threads=1)) == {1}
    assert blas_threads() == {2}


def test_a_dense_kernel_of_dimension_1024_runs_on_every_cpu():
    # depth 3 with n_0 = n_d = 32: the dense map-space kernel is 1024 x 1024 (two steps); the
    # caller runs one thread, dlnsim raises it for its own loop and puts it back
    if threads.available_cpus() < 2:
        pytest.skip("one CPU: nothing to raise")
    widths = (32, 2, 2, 32)
    rule = rules.ngd(2.0, path="dense")
    assert rule.decomposition_size(widths) == 1024
    with threadpool_limits(limits=1, user_api="blas"):
        assert recorded(rule, widths) == {threads.available_cpus()}
        assert blas_threads() == {1}


@pytest.mark.parametrize("rule, widths, size", [
    (rules.gd(), (3, 7, 2), 7),
    (rules.ngd(2.0), (3, 7, 2), 7),                                    # auto: depth-2 path
    (rules.ngd(2.0), (4, 5, 5, 6), 24),                                # auto: dense kernel
    (rules.ngd(2.0, path="dense"), (4, 5, 6), 24),
    (rules.ngd(2.0, path="balanced"), (4, 5, 5, 6), 6),
    (rules.ngd(2.0, block_diagonal=True), (4, 5, 5, 6), 6),
    (rules.ngd(1.0), (40, 8, 8, 40), 40),                               # auto above DENSE_MAX
    (rules.chain(rules.ngd(2.0, path="dense"), rules.weight_decay(0.1)), (4, 5, 5, 6), 24),
])
def test_decomposition_size_is_the_largest_matrix_a_step_factorizes(rule, widths, size):
    assert rule.decomposition_size(widths) == size


def test_ensembles_and_mode_runs_restore_the_callers_threads(two_threads):
    net = Network.random((3, 3, 3), scale=0.3, seed=1)
    ens = simulate_ensemble([net, net], Task(np.eye(3)), rules.gd(), [0, 1], quiet=True)
    assert ens.status.tolist() == [0, 0]
    assert blas_threads() == {2}
    run = modes.simulate(np.full((2, 3), 0.1), [1.0, 0.5], [0, 1], q=2.0,
                         limits=Limits(threads=1))
    assert run.success and blas_threads() == {2}


def test_torch_threads_are_set_inside_and_restored():
    # On torch's Linux CPU wheel the intra-op pool is OpenMP (libgomp), which threadpoolctl
    # limits too, so this checks the behaviour, not which of the two mechanisms provides it
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the caller's setting, different from the one dlnsim chooses
    try:
        with threads.limit(threads=1) as k:
            assert k == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
