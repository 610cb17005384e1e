"""Task: losses, teacher-student data, validation."""

import numpy as np
import pytest

from dlnsim import Task


def test_loss_is_half_weighted_squared_residual():
    rng = np.random.default_rng(0)
    target = rng.standard_normal((2, 3))
    s = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    task = Task(target=target, input_cov=s)
    w = rng.standard_normal((2, 3))
    d = w - target
    assert task.loss(w) == pytest.approx(0.5 * np.trace(d @ s @ d.T), rel=1e-14)
    assert task.loss(target) == 0.0
    assert np.allclose(task.input_cov_sqrt @ task.input_cov_sqrt, s)


@pytest.mark.parametrize("samples", [None, 40])
def test_teacher_student_train_loss_equals_data_loss(samples):
    task = Task.teacher_student(n=6, rank=2, samples=samples, noise=0.3, seed=1)
    x, y = task.inputs, task.outputs
    p = x.shape[1]
    assert p == (6 if samples is None else samples)
    assert np.allclose(x @ x.T / p, np.eye(6), atol=1e-12)  # whitened exactly
    assert task.is_whitened
    w = np.random.default_rng(2).standard_normal((6, 6))
    data_loss = 0.5 * np.sum((w @ x - y) ** 2) / p
    assert task.loss(w) == pytest.approx(data_loss, rel=1e-12)
    assert np.linalg.matrix_rank(task.teacher) == 2
    assert np.allclose(np.linalg.svd(task.teacher, compute_uv=False)[:2], [2.0, 1.0])


def test_teacher_student_test_loss_is_population_loss():
    task = Task.teacher_student(n=4, rank=1, noise=0.5, seed=3, strengths=[2.5])
    rng = np.random.default_rng(4)
    w = rng.standard_normal((4, 4))
    # Monte Carlo estimate of E||W x - W_t x - z||^2 / 2 with fresh data
    x = rng.standard_normal((4, 200_000))
    z = 0.5 * rng.standard_normal((4, 200_000))
    mc = 0.5 * np.mean(np.sum(((w - task.teacher) @ x - z) ** 2, axis=0))
    assert task.test_loss(w) == pytest.approx(mc, rel=1e-2)
    assert task.test_loss(task.teacher) == pytest.approx(0.5 * 4 * 0.25)


def test_teacher_student_is_reproducible():
    a = Task.teacher_student(n=5, rank=2, seed=7)
    b = Task.teacher_student(n=5, rank=2, seed=7)
    assert np.array_equal(a.target, b.target)


@pytest.mark.parametrize("make,err,match", [
    (lambda: Task(target=np.ones(3)), ValueError, "target must be a 2-D array"),
    (lambda: Task(target=[[np.inf]]), ValueError, "target must be finite"),
    (lambda: Task(target=np.ones((2, 2)), input_cov=np.ones((3, 3))), ValueError, "input_cov"),
    (lambda: Task(target=np.ones((2, 2)), input_cov=[[1, 2], [0, 1]]), ValueError,
     "input_cov must be symmetric"),
    (lambda: Task(target=np.ones((2, 2)), input_cov=[[1, 0], [0, -1]]), ValueError,
     "input_cov must be positive definite"),
    (lambda: Task(target=np.ones((2, 2)), input_cov=np.zeros((2, 2))), ValueError,
     "positive definite"),
    (lambda: Task(target="abc"), TypeError, "target must be a 2-D array"),
    (lambda: Task.teacher_student(n=4, rank=5), ValueError, "rank must be <="),
    (lambda: Task.teacher_student(n=4, samples=3), ValueError, "samples must be >="),
    (lambda: Task.teacher_student(n=4, noise=-1), ValueError, "noise"),
    (lambda: Task.teacher_student(n=2.0), TypeError, "n must be a positive integer"),
    (lambda: Task.teacher_student(n=4, rank=2, strengths=[1.0]), ValueError, "strengths"),
])
def test_bad_task_input_raises_naming_the_argument(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_test_loss_needs_a_teacher():
    with pytest.raises(ValueError, match="no teacher"):
        Task(target=np.eye(2)).test_loss(np.eye(2))
