"""The torch backend: the same vector fields and runs as numpy, on float64 tensors.

Runs on torch's CPU build in CI; the CUDA tests run only where torch sees a GPU. Without torch
this module skips; tests/test_integrate.py checks that numpy-only installs keep working.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings

import dlnsim
from dlnsim import Network, Task, backends, modes, rules
from dlnsim.cli import main
from tests.reference import dln_cases

torch = pytest.importorskip("torch")

RULES = [
    rules.gd(), rules.ngd(1), rules.ngd(1.5), rules.ngd(2), rules.ngd(3),
    rules.ngd(1, damping=1e-3), rules.ngd(2, block_diagonal=True),
    # damping 1e-3 keeps cond(H_i + eps) <= ~1e4 here; at 1e-4 (cond ~1e6) a 3000-example
    # sweep saw 4.4e-10, too close to the 1e-9 bound below
    rules.ngd(1, block_diagonal=True, damping=1e-3),
    rules.chain(rules.l2(0.1), rules.ngd(2)),
    rules.chain(rules.ngd(2), rules.weight_decay(0.05)),
    rules.chain(rules.ngd(1), rules.clip(0.05), rules.weight_decay(0.01)),
]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _torch_stack(net: Network, task: Task, device="cpu") -> rules.Stack:
    s = rules.Stack.from_network(net, task)
    be = backends.get("torch", device)

    def conv(x):
        return None if x is None else be.asarray(x)

    return rules.Stack(tuple(conv(w) for w in s.weights), conv(s.target), conv(s.input_cov),
                       conv(s.input_cov_sqrt))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rule_index", range(len(RULES)), ids=[r.name for r in RULES])
@settings(max_examples=6)
@given(case=dln_cases(max_depth=4, max_width=5))
def test_torch_velocity_equals_numpy_velocity(device, case, rule_index):
    """Every rule's field on tensors equals the numpy field: depths 1-4, rectangular and
    bottleneck widths, S != I, near-saddle scales."""
    weights, target, cov = case
    net, task = Network(weights), Task(target, input_cov=cov)
    rule = RULES[rule_index]
    want = rule.velocity(net, task)
    got = rule.stack_velocity(_torch_stack(net, task, device))
    assert all(g.dtype == torch.float64 and g.device.type == device for g in got)
    scale = max(float(np.abs(w).max()) for w in want)
    for g, w in zip(got, want):
        err = float(np.abs(g[0].cpu().numpy() - w).max())
        # Both sides diagonalise K with LAPACK-class eigensolvers; the pseudo-inverse then
        # amplifies round-off by cond(K) on the kept spectrum, up to ~1e5 at the 1e-12 cutoff
        # for these small random cases: 1e-9 relative with an absolute floor for zero fields.
        assert err <= 1e-9 * scale + 1e-14, (rule.name, err, scale)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("block", [False, True])
@pytest.mark.parametrize("q", [1.0, 2.0, math.inf])
def test_singular_mode_field_on_torch_equals_numpy(device, block, q):
    rng = np.random.default_rng(0)
    sigma = rng.standard_normal((3, 7, 4)) * 0.5  # an ensemble of 3, 7 modes, depth 4
    target = rng.random((3, 7))
    kw = dict(q=q, block_diagonal=block, damping=0.0, weight_decay=0.01, max_speed=0.2)
    got = modes.velocity(torch.tensor(sigma, device=device), torch.tensor(target, device=device),
                         **kw).cpu().numpy()
    for b in range(3):  # clipping acts per ensemble member
        np.testing.assert_allclose(got[b], modes.velocity(sigma[b], target[b], **kw),
                                   rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rule", [rules.ngd(2), rules.ngd(1, block_diagonal=True, damping=1e-4),
                                  rules.chain(rules.l2(0.1), rules.ngd(1.5))],
                         ids=lambda r: r.name)
def test_simulate_on_torch_matches_numpy_scipy_run(device, rule):
    """Torch dopri5 against numpy's scipy DOP853 (independent integrators), S != I."""
    a = np.random.default_rng(1).standard_normal((4, 4))
    task = Task(Task.teacher_student(n=4, n_out=3, rank=2, seed=0).target,
                input_cov=a @ a.T / 4 + 0.5 * np.eye(4))
    net = Network.random((4, 5, 2, 3), scale=0.5, seed=0)
    t = np.linspace(0, 1, 4)
    ref = dlnsim.simulate(net, task, rule, t, rtol=1e-12, atol=1e-14, quiet=True)
    got = dlnsim.simulate(net, task, rule, t, rtol=1e-12, atol=1e-14, quiet=True,
                          backend="torch", device=device)
    assert got.success and got.method == "ode:dopri5"
    for w_got, w_ref in zip(got.weights, ref.weights):
        assert np.abs(w_got - w_ref).max() / np.abs(w_ref).max() < 1e-9


@pytest.mark.parametrize("device", DEVICES)
def test_torch_ensemble_equals_numpy_ensemble(device):
    task = Task.teacher_student(n=5, n_out=4, rank=2, seed=0)
    nets = [Network.random((5, 3, 6, 4), scale=0.3, seed=s) for s in range(4)]
    rule = rules.chain(rules.ngd(2), rules.clip(1.0), rules.weight_decay(0.01))
    t = np.linspace(0, 2, 5)
    for kw in (dict(), dict(solver="rk4", dt=0.01), dict(method="discrete", lr=0.1)):
        grid = np.arange(0, 30, 10) if kw.get("method") == "discrete" else t
        ref = dlnsim.simulate_ensemble(nets, task, rule, grid, quiet=True, **kw)
        got = dlnsim.simulate_ensemble(nets, task, rule, grid, quiet=True, backend="torch",
                                       device=device, **kw)
        assert got.backend.startswith("torch:") and got.success
        for w_got, w_ref in zip(got.weights, ref.weights):
            assert np.abs(w_got - w_ref).max() / np.abs(w_ref).max() < 1e-9


def test_torch_ensemble_member_diverges_alone():
    task = Task.teacher_student(n=4, n_out=4, rank=2, seed=0)
    nets = [Network.random((4, 4, 4), scale=0.3, seed=s) for s in range(3)]
    ens = dlnsim.simulate_ensemble(nets, task, rules.gd(), np.arange(0, 100, 10),
                                   lr=[0.05, 40.0, 0.05], method="discrete", quiet=True,
                                   backend="torch")
    assert list(ens.status) == [0, 1, 0] and np.all(np.isfinite(ens.loss))


@pytest.mark.parametrize("device", DEVICES)
def test_modes_simulate_on_torch_matches_numpy(device):
    rng = np.random.default_rng(0)
    s0, target = 0.1 + 0.2 * rng.random((6, 3)), 0.5 + rng.random(6)
    t = np.linspace(0, 5, 6)
    ref = modes.simulate(s0, target, t, q=2, rtol=1e-12, atol=1e-14)
    got = modes.simulate(s0, target, t, q=2, rtol=1e-12, atol=1e-14, backend="torch",
                         device=device)
    assert got.success and np.abs(got.sigma - ref.sigma).max() < 1e-10


def test_validate_backend_quick_runs_one_depth_per_rule(monkeypatch, tmp_path, capsys):
    """--quick keeps every rule and every singular-mode case, at one depth each (cycling 1-4),
    a quarter of the full list; the full list itself runs in the test below."""
    from dlnsim import validate_backend as vb

    full, quick = vb.cases(), vb.cases(quick=True)
    assert {c[1] for c in quick} == {c[1] for c in full}
    assert {c[2] for c in quick} == {1, 2, 3, 4} and 3 * len(quick) < len(full)
    seen = {}

    def spy(device, quick=False, quiet=True):
        seen["quick"] = quick
        return vb.Results()

    monkeypatch.setattr(vb, "validate", spy)
    assert main(["validate-backend", "--quick", "--quiet"]) == 0 and seen["quick"] is True


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_request_without_a_gpu_is_a_clear_error(capsys):
    with pytest.raises(ValueError, match="no CUDA device"):
        dlnsim.simulate(Network.random((2, 2), seed=0), Task(np.eye(2)), rules.gd(), [0, 1],
                        backend="torch", device="cuda", quiet=True)
    assert main(["validate-backend", "--device", "cuda"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_bad_device_names_the_argument():
    with pytest.raises(ValueError, match="device must"):
        backends.get("torch", "tpu")
    with pytest.raises(TypeError, match="device must be a string"):
        backends.get("torch", 0)


def test_the_papers_optimisers_refuse_the_torch_backend_before_any_work():
    task = Task.teacher_student(n=3, rank=1, seed=0)
    net = Network.random((3, 3, 3), seed=0)
    for rule in (rules.kfac(), rules.hcgd(), rules.minibatch_sgd(), rules.noisy_sgd("none")):
        with pytest.raises(ValueError, match="numpy arrays only"):
            dlnsim.simulate(net, task, rule, [0, 1], method="discrete", backend="torch")


def test_validate_backend_full_passes_every_case_and_writes_json(tmp_path, capsys):
    """Without --quick: every rule at every depth, S != I included, both methods."""
    path = tmp_path / "full.json"
    assert main(["validate-backend", "--quiet", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "ngd-d(q=1) d=3" in out
    doc = json.loads(path.read_text())
    assert doc["passed"] and doc["device"] == "cpu" and len(doc["cases"]) > 100
    cases = doc["cases"]
    assert {c["method"] for c in cases} == {"ode", "discrete"}
    assert {len(c["widths"]) - 1 for c in cases if c["widths"]} == {1, 2, 3, 4}
    assert any(not c["whitened"] for c in cases)
    assert all(c["deviation"] is not None and c["deviation"] <= 1e-9 for c in cases)
    assert doc["max_deviation"] <= doc["tolerance"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("whitened", [True, False])
def test_depth2_path_on_torch_stacks_equals_the_numpy_dense_path(device, whitened):
    """The exact depth-2 path batched over an ensemble of torch tensors (members of different
    scales and widths' bottleneck) against numpy's dense map-space path member by member."""
    rng = np.random.default_rng(11)
    cov = None if whitened else np.diag([1.5, 1.0, 0.6, 0.3])
    task = Task(target=rng.standard_normal((3, 4)), input_cov=cov)
    nets = [Network.random((4, 2, 3), scale=s, seed=k) for k, s in enumerate((0.3, 1.0, 2.0))]
    be = backends.get("torch", device)
    base = rules.Stack.from_tasks([task], be.asarray)
    stack = rules.Stack(tuple(be.asarray(np.stack([n.weights[i] for n in nets]))
                              for i in range(2)), base.target, base.input_cov,
                        base.input_cov_sqrt)
    for q in (1.0, 2.0, 3.0):
        got = rules.ngd(q, path="depth2").stack_velocity(stack)
        for b, net in enumerate(nets):
            want = rules.ngd(q, path="dense").velocity(net, task)
            scale = max(float(np.abs(w).max()) for w in want)
            for g, w in zip(got, want):
                assert float(np.abs(g[b].cpu().numpy() - w).max()) <= 1e-10 * scale


@pytest.mark.parametrize("device", DEVICES)
def test_layer_rates_on_torch_equal_numpy(device):
    """rules.layer_rates on tensors: full matrices (S != I) and singular modes."""
    rng = np.random.default_rng(3)
    net = Network.random((3, 4, 2, 3), scale=0.8, seed=3)
    a = rng.standard_normal((3, 3))
    task = Task(rng.standard_normal((3, 3)), input_cov=a @ a.T + np.eye(3))
    rule = rules.chain(rules.ngd(2), rules.weight_decay(0.1), rules.layer_rates((0.5, 2, 1)))
    want = rule.velocity(net, task)
    got = rule.stack_velocity(_torch_stack(net, task, device))
    for g, w in zip(got, want):
        assert float(np.abs(g[0].cpu().numpy() - w).max()) <= 1e-12 * float(np.abs(w).max())
    s0, target, t = 0.1 + 0.2 * rng.random((4, 3)), 1.0 + rng.random(4), np.linspace(0, 2, 3)
    ref = modes.simulate(s0, target, t, rule=rule, rtol=1e-12, atol=1e-14)
    run = modes.simulate(s0, target, t, rule=rule, rtol=1e-12, atol=1e-14, backend="torch",
                         device=device)
    assert run.success and np.abs(run.sigma - ref.sigma).max() < 1e-10
