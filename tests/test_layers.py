"""Each layer's backward against centred finite differences of its own forward."""

import numpy as np
import pytest

from postagger import layers
from postagger.gradcheck import numerical_grad, rel_error


def check(f_loss, analytic, x, tol=1e-6):
    numeric = numerical_grad(f_loss, x)
    assert rel_error(analytic, numeric).max() < tol


def test_embed_lookup_equals_one_hot_product():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(9, 4))
    ids = rng.integers(0, 9, size=(3, 5))
    out, _ = layers.embed_forward(ids, W)
    one_hot = np.eye(9)[ids]  # (3, 5, 9)
    np.testing.assert_array_equal(out, one_hot @ W)


def test_embed_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(6, 3))
    ids = rng.integers(0, 6, size=(4, 5))  # repeated ids must accumulate
    dout = rng.normal(size=(4, 5, 3))
    out, cache = layers.embed_forward(ids, W)
    dW = layers.embed_backward(dout, cache)
    check(lambda: float((layers.embed_forward(ids, W)[0] * dout).sum()), dW, W)


@pytest.mark.parametrize("pool,shape", [(2, (6, 11)), (7, (6, 11)), (1000, (6, 11)), (150, (40, 50)), (100000, (20, 30))])
def test_row_sparse_gradient_equals_dense(pool, shape):
    # few ids, all distinct, and a mix of singletons and long runs
    rng = np.random.default_rng(pool)
    ids = rng.zipf(1.5, size=shape) % pool
    dout = rng.normal(size=(*shape, 4))
    dense = layers.embed_backward(dout, (ids, (pool, 4)))
    for n_rows in (None, pool):  # rows found by sorting, and by marking
        sparse = layers.embed_backward_rows(dout.reshape(-1, 4), ids.reshape(-1), n_rows)
        assert np.all(np.diff(sparse.rows) > 0)  # unique and sorted
        np.testing.assert_allclose(sparse.to_dense((pool, 4)), dense, atol=1e-12)


@pytest.mark.parametrize("D,T,N,H", [(1, 4, 3, 5), (2, 3, 2, 6)])
def test_rnn_backward_matches_finite_differences(D, T, N, H):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(D, T, N, H))
    Wh = rng.normal(scale=0.5, size=(D, H, H))
    dh = rng.normal(size=(D, T, N, H))
    _, cache = layers.rnn_forward(x, Wh)
    dx, dWh = layers.rnn_backward(dh, cache)

    def f():
        return float((layers.rnn_forward(x, Wh)[0] * dh).sum())

    check(f, dx, x)
    check(f, dWh, Wh)


def test_a_lanes_gradient_stops_at_its_leading_padding():
    """The right-to-left lane as the second training process runs it: sequence 1 is padded for
    298 of 300 steps before its 2 real ones. With recurrent weights of norm 1.5 in float32, a
    gradient carried through that padding (tanh' = 1 at h = 0) overflowed and made dWh NaN. dWh
    and dx must be what the two sequences give on their own."""
    rng = np.random.default_rng(0)
    T, H, K = 300, 8, 5
    Wh = 1.5 * np.linalg.qr(rng.normal(size=(H, H)))[0].astype(np.float32)
    Wy = rng.normal(size=(H, K)).astype(np.float32)
    x = rng.normal(size=(T, 2, H)).astype(np.float32)
    x[: T - 2, 1] = 0.0  # (T, N, H): the lane's time order, sequence 1's padding first
    padded = np.arange(T - 2) * 2 + 1  # positions in (T*N)
    dy = rng.normal(size=(T, 2, K)).astype(np.float32)
    dy[: T - 2, 1] = 0.0  # no loss at padding
    _, cache = layers.rnn_lane_forward(x.copy(), Wh, Wy)
    dx, dWh, dWy = layers.rnn_lane_backward(dy.reshape(T * 2, K), cache, padded)
    assert np.isfinite(dWh).all() and np.isfinite(dx).all()
    parts = []
    for n, steps in ((0, slice(None)), (1, slice(T - 2, None))):
        _, alone = layers.rnn_lane_forward(np.ascontiguousarray(x[steps, n : n + 1]), Wh, Wy)
        parts.append(layers.rnn_lane_backward(np.ascontiguousarray(dy[steps, n]), alone, np.zeros(0, dtype=np.int64)))
    np.testing.assert_allclose(dWh, parts[0][1] + parts[1][1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx[T - 2 :, 1], parts[1][0][:, 0], rtol=1e-4, atol=1e-6)
    assert not dx[: T - 2, 1].any()


def test_rnn_forward_follows_the_recurrence():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 2, 4))
    Wh = rng.normal(size=(1, 4, 4))
    h, _ = layers.rnn_forward(x, Wh)
    prev = np.zeros((2, 4))
    for t in range(3):
        prev = np.tanh(x[0, t] + prev @ Wh[0])
        np.testing.assert_allclose(h[0, t], prev)
    overwritten = x.copy()
    h_in_place, _ = layers.rnn_forward(overwritten, Wh, out=overwritten)  # each x[t] is read before h[t] replaces it
    assert h_in_place is overwritten
    np.testing.assert_array_equal(h_in_place, h)


def test_packed_recurrence_runs_each_sequence_on_its_own():
    """Packed steps (3 sequences of lengths 4, 2, 1) against each sequence alone, per lane."""
    rng = np.random.default_rng(5)
    lengths, H = [4, 2, 1], 3
    sequences = [rng.normal(size=(2, n, H)) for n in lengths]
    Wh = rng.normal(size=(2, H, H))
    counts = np.array([3, 2, 1, 1])
    x = np.concatenate([np.stack([s[:, t] for s, n in zip(sequences, lengths) if n > t], axis=1) for t in range(4)], axis=1)
    h = layers.rnn_forward_packed(x, Wh, counts)
    row = 0
    for t, count in enumerate(counts):
        for i in range(count):
            alone, _ = layers.rnn_forward(sequences[i][:, :, None], Wh)  # (D, T, 1, H)
            np.testing.assert_allclose(h[:, row], alone[:, t, 0], rtol=1e-12)
            row += 1


def test_packed_scores_gather_and_project_each_step_as_the_whole_arrays_do():
    """rnn_scores_packed (rows of a table gathered, states projected step by step) against
    gathering all inputs, rnn_forward_packed and one product per lane; ragged steps, D=2,
    H != K, rows of the table used twice or not at all."""
    rng = np.random.default_rng(6)
    D, H, K, R = 2, 4, 3, 9
    counts = np.array([4, 3, 3, 1])
    M = int(counts.sum())
    table = rng.normal(size=(R, H))
    ids = rng.integers(0, R, size=(D, M))
    Wh, Wy = rng.normal(size=(D, H, H)), rng.normal(size=(D, H, K))
    y = layers.rnn_scores_packed(table, ids, Wh, Wy, counts)
    h = layers.rnn_forward_packed(table[ids], Wh, counts)
    np.testing.assert_allclose(y, h @ Wy, rtol=1e-12)
    assert y.shape == (D, M, K)


def test_affine_backward_matches_finite_differences():
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    dout = rng.normal(size=(5, 4))
    dx, dW, db = layers.affine_backward(dout, layers.affine_forward(x, W, b)[1])

    def f():
        return float((layers.affine_forward(x, W, b)[0] * dout).sum())

    check(f, dx, x)
    check(f, dW, W)
    check(f, db, b)


def test_softmax_cross_entropy_of_large_logits_in_float32():
    """exp overflows float32 past 88: the loss must shift by each row's largest logit."""
    logits = np.array([[1000.0, 998.0, -1000.0], [-500.0, 400.0, 401.0]], dtype=np.float32)
    y, mask = np.array([1, 2]), np.array([1, 1])
    loss, dlogits = layers.softmax_cross_entropy(logits, y, mask)
    small = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)  # the same rows, shifted by hand
    expected_loss, expected = layers.softmax_cross_entropy(small, y, mask)
    assert np.isfinite(loss) and loss == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(dlogits, expected, atol=1e-7)


def test_softmax_cross_entropy_ignores_masked_positions_and_averages():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    mask = np.array([1, 1, 0, 1, 0, 1])
    loss, dlogits = layers.softmax_cross_entropy(logits, y, mask)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.log(p[np.arange(6), y])[mask == 1].mean()
    assert loss == pytest.approx(expected)
    assert np.all(dlogits[mask == 0] == 0)
    check(lambda: layers.softmax_cross_entropy(logits, y, mask)[0], dlogits, logits)


def test_dropout_is_identity_without_rng_and_scales_kept_units():
    x = np.ones((200, 50))
    same, keep = layers.dropout_forward(x, 0.5, None)
    assert same is x and keep is None
    dropped, keep = layers.dropout_forward(x, 0.5, np.random.default_rng(0))
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert 0.45 < (dropped > 0).mean() < 0.55
    np.testing.assert_array_equal(layers.dropout_backward(np.ones_like(x), keep), keep)


@pytest.fixture(params=["scipy's loop", "fallback"])
def sparse_loop(request, monkeypatch):
    """sum_rows and add_rows with scipy's compiled loop, and with the fallback that runs where
    the loop is missing (the public csc_matrix product; numpy's gather and scatter)."""
    if request.param == "fallback":
        monkeypatch.setattr(layers, "_csc_kernel", lambda: None)
    elif layers._csc_kernel() is None:
        pytest.skip("this scipy has no csc_matvecs giving the public product's answer")
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_rows_adds_each_row_to_all_its_targets(sparse_loop, dtype):
    rng = np.random.default_rng(4)
    values = rng.normal(size=(9, 3)).astype(dtype)
    targets = np.stack([rng.integers(0, 4, 9), rng.integers(4, 7, 9)], axis=1)  # (M, 2)
    one_column = np.zeros((7, 3))
    np.add.at(one_column, targets[:, 0], values)
    both = one_column.copy()
    np.add.at(both, targets[:, 1], values)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for got, expected in ((layers.sum_rows(values, targets[:, 0], 7), one_column), (layers.sum_rows(values, targets, 7), both)):
        assert got.dtype == dtype and got.shape == (7, 3)
        np.testing.assert_allclose(got, expected, atol=tolerance)
    assert layers.sum_rows(values[:0], targets[:0, 0], 5).tolist() == np.zeros((5, 3)).tolist()  # an empty batch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_add_rows_scales_and_adds_into_the_given_rows_only(sparse_loop, dtype):
    rng = np.random.default_rng(5)
    target = rng.normal(size=(8, 3)).astype(dtype)
    rows, values, scale = np.array([6, 1, 3]), rng.normal(size=(3, 3)).astype(dtype), np.array([0.5, -2.0, 3.0], dtype=dtype)
    expected = target.astype(np.float64)
    for row, value, factor in zip(rows, values, scale):
        expected[row] += factor * value
    before = target.copy()
    layers.add_rows(target, rows, values, scale)
    np.testing.assert_allclose(target, expected, rtol=1e-6)
    assert np.array_equal(np.delete(target, rows, axis=0), np.delete(before, rows, axis=0))
    layers.add_rows(target, rows, values, -1.0)  # one factor for every row
    np.testing.assert_allclose(target, expected - _scattered(rows, values, 8), rtol=1e-6, atol=1e-6)
    strided = np.zeros((8, 6), dtype=dtype)[:, ::2]  # not contiguous: updated all the same
    layers.add_rows(strided, rows, values, 1.0)
    np.testing.assert_array_equal(strided, _scattered(rows, values, 8))


def _scattered(rows, values, n):
    out = np.zeros((n, values.shape[1]))
    out[rows] = values
    return out
