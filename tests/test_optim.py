"""Optimizers: row-sparse updates against dense ones, clipping only in the step."""

import numpy as np
import pytest

from postagger.layers import RowGrad
from postagger.optim import Adam, clip_by_global_norm, global_norm, make_optimizer


def problem(seed=0):
    rng = np.random.default_rng(seed)
    rows = np.array([1, 4, 5])
    values = rng.normal(size=(3, 4))
    dense = np.zeros((7, 4))
    dense[rows] = values
    return rng.normal(size=(7, 4)), RowGrad(rows, values), dense


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_sparse_update_equals_dense_update(name):
    start, sparse, dense = problem()
    a, b = {"W": start.copy()}, {"W": start.copy()}
    opt_a, opt_b = make_optimizer(name, 0.1), make_optimizer(name, 0.1)
    for _ in range(3):
        opt_a.step(a, {"W": sparse})
        opt_b.step(b, {"W": dense})
    np.testing.assert_allclose(a["W"], b["W"], rtol=1e-12)


def test_lazy_adam_touches_only_the_rows_used():
    start, sparse, dense = problem()
    params = {"W": start.copy()}
    Adam(0.1).step(params, {"W": sparse})
    untouched = [0, 2, 3, 6]
    np.testing.assert_array_equal(params["W"][untouched], start[untouched])
    # on the first step, lazy and dense Adam agree on the rows used
    dense_params = {"W": start.copy()}
    Adam(0.1).step(dense_params, {"W": dense})
    np.testing.assert_allclose(params["W"], dense_params["W"], rtol=1e-12)


def test_adam_first_step_moves_each_entry_by_about_lr():
    params = {"w": np.zeros(3)}
    Adam(0.01).step(params, {"w": np.array([5.0, -0.1, 1e-3])})
    # eps is added to the uncorrected sqrt(v) (the paper's efficient form), so tiny gradients move a bit less
    np.testing.assert_allclose(params["w"], [-0.01, 0.01, -0.01], rtol=1e-3)


def test_clipping_scales_all_gradients_together():
    _, sparse, dense = problem()
    grads = {"a": sparse, "b": np.ones(3)}
    norm = global_norm(grads)
    assert norm == pytest.approx(np.sqrt((dense**2).sum() + 3))
    clipped, before = clip_by_global_norm(grads, 1.0)
    assert before == pytest.approx(norm)
    assert global_norm(clipped) == pytest.approx(1.0)
    scale = 1.0 / norm
    np.testing.assert_allclose(clipped["b"], grads["b"] * scale)
    np.testing.assert_allclose(clipped["a"].values, sparse.values * scale)


def test_optimizer_clips_in_its_step():
    params = {"w": np.zeros(2)}
    opt = make_optimizer("sgd", 1.0, clip=1.0)
    norm = opt.step(params, {"w": np.array([30.0, 40.0])})
    assert norm == pytest.approx(50.0)
    np.testing.assert_allclose(params["w"], [-0.6, -0.8])


def test_state_round_trip():
    start, sparse, _ = problem()
    a, b = {"W": start.copy()}, {"W": start.copy()}
    opt = Adam(0.1)
    opt.step(a, {"W": sparse})
    restored = Adam(0.1)
    restored.load_state_dict(opt.state_dict())
    b["W"] = a["W"].copy()
    opt.step(a, {"W": sparse})
    restored.step(b, {"W": sparse})
    np.testing.assert_array_equal(a["W"], b["W"])


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", 0.1)


def test_rowwise_adam_scales_each_row_by_its_rms():
    start, sparse, _ = problem()
    params = {"W": start.copy()}
    Adam(0.1, rowwise=True).step(params, {"W": sparse})
    rms = np.sqrt((sparse.values**2).mean(axis=1, keepdims=True))
    expected = start.copy()
    expected[sparse.rows] -= 0.1 * sparse.values / (rms + 1e-8 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(params["W"], expected, rtol=1e-6)
    untouched = [0, 2, 3, 6]
    np.testing.assert_array_equal(params["W"][untouched], start[untouched])


def test_clipped_step_equals_a_step_on_gradients_scaled_beforehand():
    """The row-wise second moments must see the clipped gradient, as every other update does."""
    start, sparse, _ = problem()
    grads = {"W": sparse, "b": np.array([3.0, -4.0])}
    norm = global_norm(grads)
    scaled = {"W": RowGrad(sparse.rows, sparse.values / norm), "b": grads["b"] / norm}
    clipped_params = {"W": start.copy(), "b": np.zeros(2)}
    scaled_params = {"W": start.copy(), "b": np.zeros(2)}
    clipping, plain = Adam(0.1, clip=1.0, rowwise=True), Adam(0.1, rowwise=True)
    for _ in range(3):
        assert clipping.step(clipped_params, grads) == pytest.approx(norm)
        plain.step(scaled_params, scaled)
    for name in clipped_params:
        np.testing.assert_allclose(clipped_params[name], scaled_params[name], rtol=1e-9)


def textbook_adam(param, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma and Ba's Algorithm 1, with eps added to the uncorrected sqrt(v) as the optimizer does."""
    m, v = np.zeros_like(param), np.zeros_like(param)
    for t, g in enumerate(grads, 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        param = param - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return param


@pytest.mark.parametrize("sparse", [False, True])
def test_adam_follows_the_textbook_over_several_steps(sparse):
    rng = np.random.default_rng(5)
    start = rng.normal(size=(6, 4))
    grads = [rng.normal(size=(6, 4)) for _ in range(4)]
    params = {"W": start.copy()}
    opt = Adam(0.05)
    for g in grads:  # every row in every batch, so lazy and dense Adam agree
        opt.step(params, {"W": RowGrad(np.arange(6), g) if sparse else g})
    np.testing.assert_allclose(params["W"], textbook_adam(start, grads, 0.05), rtol=1e-10)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_step_with_a_non_finite_gradient_raises_and_changes_nothing(bad):
    """Training stops at the batch that went wrong, with the weights and the moments as they were."""
    params = {"W": np.ones((3, 2), dtype=np.float32), "E": np.ones((5, 2), dtype=np.float32)}
    opt = Adam(lr=0.1, clip=5.0, rowwise=True)
    opt.step(params, {"W": np.full((3, 2), 0.5, np.float32), "E": RowGrad(np.array([1, 3]), np.ones((2, 2), np.float32))})
    before = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in opt.state.items()}, opt.steps
    grad = np.full((3, 2), 0.5, np.float32)
    grad[1, 1] = bad
    with pytest.raises(FloatingPointError, match="norm is"):
        opt.step(params, {"W": grad, "E": RowGrad(np.array([0]), np.ones((1, 2), np.float32))})
    for k in params:
        np.testing.assert_array_equal(params[k], before[0][k])
    for k in opt.state:
        np.testing.assert_array_equal(opt.state[k], before[1][k])
    assert opt.steps == before[2]


def test_finite_gradients_whose_squares_overflow_float32_are_clipped_not_refused():
    """1e19 and 1e20 are finite in float32, their squares are not: with clipping on, the step
    goes ahead with the gradients scaled to the clip's norm; without, it is refused."""
    params = {"W": np.ones((4, 4), np.float32), "E": np.ones((3, 2), np.float32)}
    grads = {"W": np.full((4, 4), 1e19, np.float32), "E": RowGrad(np.array([1]), np.full((1, 2), -1e20, np.float32))}
    with np.errstate(over="ignore"):
        norm = make_optimizer("sgd", 0.1, clip=5.0).step(params, grads)
        moved = np.sqrt(((1 - params["W"]) ** 2).sum() + ((1 - params["E"]) ** 2).sum())
        assert norm == pytest.approx(np.sqrt(16 * 1e38 + 2 * 1e40), rel=1e-5)
        assert moved == pytest.approx(0.1 * 5.0, rel=1e-5) and params["E"][0, 0] == 1.0
        with pytest.raises(FloatingPointError, match="norm is inf"):
            make_optimizer("sgd", 0.1, clip=0.0).step(params, grads)
