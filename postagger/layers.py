"""Forward/backward pairs, in the style of CS231n's rnn_layers.py.

A training forward returns `(out, cache)` and its backward takes `(dout, cache)`; the packed
forwards of tagging have no backward and return no cache. Nothing here keeps state between
calls, so a backward can never read a stale forward. For speed some functions write into an
`out` array, or over their input where their docstrings say so.

Shapes: N sentences in a batch, T timesteps, D lanes (recurrences run side by side, e.g. the two
directions of a bidirectional RNN), H hidden units, V input vocabulary, K tags.
This module imports numpy, and scipy.sparse for sparse-dense products (sum_rows, add_rows).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class RowGrad(NamedTuple):
    """A row-sparse gradient of a (V, H) table: only `rows` (unique, sorted) are non-zero."""

    rows: np.ndarray  # (R,) int
    values: np.ndarray  # (R, H)

    def to_dense(self, shape: tuple[int, ...]) -> np.ndarray:
        dense = np.zeros(shape, dtype=self.values.dtype)
        dense[self.rows] = self.values
        return dense


# ---------------------------------------------------------------- one-hot input (row lookup)


def embed_forward(ids: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, tuple]:
    """one_hot(ids) @ W computed as a row lookup. ids (...) int, W (V, H) -> out (..., H)."""
    return W[ids], (ids, W.shape)


def embed_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """dout (..., H) -> dW (V, H), summing the rows of repeated ids with np.add.at."""
    ids, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    np.add.at(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))
    return dW


def sum_rows(values: np.ndarray, targets: np.ndarray, n_targets: int, out: np.ndarray | None = None) -> np.ndarray:
    """out[t] = the sum of the values[j] with t among targets[j].

    values (M, F), targets (M,) or (M, k) ints in [0, n_targets) -> out (n_targets, F), into
    out when given (C-contiguous; it is overwritten).
    numpy's scatter-adds (np.add.at, reduceat) loop per element or per column; a sparse one-hot
    (n_targets x M) matrix, column j holding ones at targets[j], times values sums whole rows in
    one compiled pass (scipy's, called directly when _csc_kernel finds it).
    """
    M = len(values)
    per_row = targets.size // M if M else 1
    index = _index_type(targets.size, n_targets)
    indptr = np.arange(0, targets.size + 1, per_row, dtype=index)
    indices = targets.reshape(-1).astype(index, copy=False)
    ones = np.ones(targets.size, dtype=values.dtype)
    kernel = _csc_kernel()
    if kernel is None:
        import scipy.sparse  # here, not at the top: it adds 0.3 s to the start of every command

        product = scipy.sparse.csc_matrix((ones, indices, indptr), shape=(n_targets, M)) @ values
        if out is None:
            return product
        out[...] = product
        return out
    if out is None:
        out = np.zeros((n_targets, values.shape[1]), dtype=values.dtype)
    else:
        out.fill(0)
    kernel(n_targets, M, values.shape[1], indptr, indices, ones, np.ascontiguousarray(values).reshape(-1), out.reshape(-1))
    return out


def add_rows(target: np.ndarray, rows: np.ndarray, values: np.ndarray, scale: np.ndarray | float) -> None:
    """target[rows] += scale * values in place, row by row: rows (R,) unique, values (R, F),
    scale (R,) one factor per row, or one float for all.

    sum_rows's compiled loop with target as its output (target += A @ values, A holding
    scale[j] at (rows[j], j)) makes one pass over the rows. numpy needs a gather, a broadcast
    product (one loop call per row: 4x a plain product of the same size), a sum and a scatter."""
    R = len(rows)
    scale = np.full(R, scale, dtype=target.dtype) if np.ndim(scale) == 0 else np.ascontiguousarray(scale, dtype=target.dtype)
    kernel = _csc_kernel()
    if kernel is None or not target.flags.c_contiguous:
        current = target.take(rows, axis=0)
        current += scale[:, None] * values
        target[rows] = current
        return
    index = _index_type(R, len(target))
    kernel(len(target), R, target.shape[1], np.arange(R + 1, dtype=index), rows.astype(index, copy=False),
           scale, np.ascontiguousarray(values, dtype=target.dtype).reshape(-1), target.reshape(-1))


def _index_type(*sizes: int) -> type:
    """The sparse index type scipy itself would choose: int32 when it can hold every size (its
    loops then need no copies), int64 otherwise."""
    return np.int32 if max(sizes) < 2**31 else np.int64


@functools.cache
def _csc_kernel():
    """scipy's compiled loop behind `csc_matrix @ dense` (out += A @ values), or None.

    csc_matrix's constructor spends 35-55 µs checking its arrays, more than a training batch's
    product itself, and sum_rows builds its arrays right. The loop lives in a private module, so
    it is used only when it is there and gives the public product's answer on a small case."""
    try:
        import scipy.sparse
        from scipy.sparse._sparsetools import csc_matvecs

        values = np.arange(12, dtype=np.float32).reshape(4, 3)
        indices, indptr = np.array([1, 0, 2, 1], dtype=np.int32), np.arange(5, dtype=np.int32)
        ones = np.ones(4, dtype=np.float32)
        expected = scipy.sparse.csc_matrix((ones, indices, indptr), shape=(3, 4)) @ values
        out = np.zeros((3, 3), dtype=np.float32)
        csc_matvecs(3, 4, 3, indptr, indices, ones, values.reshape(-1), out.reshape(-1))
    except (ImportError, TypeError, ValueError):
        return None
    return csc_matvecs if np.array_equal(out, expected) else None


def embed_backward_rows(dout: np.ndarray, ids: np.ndarray, n_rows: int | None = None) -> RowGrad:
    """The same gradient as embed_backward, kept row-sparse: only the rows of the ids present.

    dout (M, F), ids (M,) or (M, k) -> RowGrad. With k ids per row, dout[j] reaches all of
    them: the lookups of several tables, their ids offset into one id space, summed into one
    pre-activation. n_rows, the size of that id space when known, lets the rows present be
    marked in a table of n_rows flags instead of sorted (5x faster for a training batch)."""
    rows, inverse = rows_present(ids, n_rows)
    return RowGrad(rows, sum_rows(dout, inverse, len(rows)))


def rows_present(ids: np.ndarray, n_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids, sorted (R,), and each id's place among them (ids' shape)."""
    if n_rows is None:
        rows, inverse = np.unique(ids, return_inverse=True)
    else:
        present = np.zeros(n_rows, dtype=bool)
        present[ids] = True
        rows = np.flatnonzero(present)
        rank = np.empty(n_rows, dtype=np.intp)  # meaningful at rows only
        rank[rows] = np.arange(len(rows))
        inverse = rank[ids]
    return rows, inverse.reshape(ids.shape)


# ---------------------------------------------------------------- Elman recurrence


def rnn_forward(x: np.ndarray, Wh: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """h[:, t] = tanh(x[:, t] + h[:, t-1] @ Wh), with h[:, -1] = 0, for D lanes at once.

    x (D, T, N, H) is the input pre-activation (input projection plus bias); Wh (D, H, H).
    Returns h (D, T, N, H). Only the product with Wh stays inside the time loop. out may be x
    itself when x is not needed afterwards (backward needs only h): no fresh (D, T, N, H) array
    to fault in page by page.
    """
    D, T, N, H = x.shape
    h = np.empty_like(x) if out is None else out
    rnn_forward_packed(x.reshape(D, T * N, H), Wh, np.full(T, N), out=h.reshape(D, T * N, H))
    return h, (h, Wh)


def rnn_forward_packed(x: np.ndarray, Wh: np.ndarray, counts: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The Elman recurrence over packed steps: step t holds counts[t] sequences (non-increasing),
    in rows [offset_t, offset_t + counts[t]) of x (D, M, H), in the same order at every step, so
    that the sequences still running at step t are the first counts[t] of step t-1. Padded
    batches are the case counts = [N] * T. Returns h (D, M, H); out may be x itself."""
    D, _, H = x.shape
    h = np.empty_like(x) if out is None else out
    steps = _packed_steps(counts)
    pre = np.empty((D, steps[0][1] if steps else 0, H), dtype=x.dtype)
    previous = None
    for current, n in steps:
        if previous is None:
            np.tanh(x[:, :n], out=h[:, :n])
        else:
            np.matmul(h[:, previous : previous + n], Wh, out=pre[:, :n])
            h_t = h[:, current : current + n]
            np.add(x[:, current : current + n], pre[:, :n], out=h_t)  # tanh in place on h_t: 6 % faster
            np.tanh(h_t, out=h_t)
        previous = current
    return h


def _packed_steps(counts) -> list[tuple[int, int]]:
    """(first row, rows) of each packed step, as Python ints for the step loops."""
    counts = [int(n) for n in counts]
    starts = np.concatenate([[0], np.cumsum(counts[:-1])]).astype(int).tolist() if counts else []
    return list(zip(starts, counts))


def rnn_scores_packed(table: np.ndarray, ids: np.ndarray, Wh: np.ndarray, Wy: np.ndarray, counts: np.ndarray,
                      out: np.ndarray | None = None) -> np.ndarray:
    """rnn_forward_packed with its input gathered and its states projected step by step (for
    tagging): x_t = table[ids_t], h_t = tanh(x_t + h_{t-1} @ Wh), y_t = h_t @ Wy. No (D, M, H)
    array of inputs or states is made, so a step's rows stay in cache from gather to product.

    table (R, H): input pre-activations, the lanes' rows together; ids (D, M): each lane's rows
    of table in packed order (see rnn_forward_packed); Wh (D, H, H); Wy (D, H, K). Returns y
    (D, M, K), each lane's projected states in its packed order (out, when given)."""
    D, M = ids.shape
    H, K = table.shape[1], Wy.shape[2]
    y = np.empty((D, M, K), dtype=table.dtype) if out is None else out
    steps = _packed_steps(counts)
    widest = D * (steps[0][1] if steps else 0) * H
    x_flat, *h_flat = (np.empty(widest, dtype=table.dtype) for _ in range(3))  # h: this step's and the last
    h_previous = None
    for t, (start, n) in enumerate(steps):
        h = h_flat[t % 2][: D * n * H].reshape(D, n, H)
        if t == 0:
            table.take(ids[:, :n], axis=0, out=h, mode="clip")  # the method: np.take adds a Python wrapper per call
        else:
            x = x_flat[: D * n * H].reshape(D, n, H)
            table.take(ids[:, start : start + n], axis=0, out=x, mode="clip")
            np.matmul(h_previous[:, :n], Wh, out=h)
            h += x
        np.tanh(h, out=h)
        np.matmul(h, Wy, out=y[:, start : start + n])
        h_previous = h
    return y


def rnn_backward(dh: np.ndarray, cache: tuple, out: np.ndarray | None = None,
                 padded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dh (D, T, N, H), the loss gradient reaching each h[:, t] from above.

    Returns dx (D, T, N, H) (into out when given) and dWh (D, H, H). The gradient from
    h[:, t+1] (dh_next) is added to dh[:, t] before going through tanh.

    padded: positions in (D*T*N) of steps whose input was forced to zero before any real step
    (the right-to-left lane's padding), where the state is exactly 0 and no weight acts: the
    gradient stops there. Carried on through hundreds of such steps it would be multiplied by
    Wh^T at each (tanh' = 1 at h = 0), overflow float32 and turn dWh into NaN (0 * inf); it
    adds nothing, since h and dx there are 0.
    """
    h, Wh = cache
    D, T, N, H = h.shape
    dpre = np.multiply(h, h, out=out)  # tanh' = 1 - h^2 for every step, then overwritten with the pre-activation grads
    np.subtract(1.0, dpre, out=dpre)  # in place: numpy's elision of big chained temporaries is slow
    dh_next = np.zeros((D, N, H), dtype=h.dtype)
    WhT = np.ascontiguousarray(Wh.transpose(0, 2, 1))
    stops = padding_starts(padded, D, T, N) if padded is not None and len(padded) else {}
    for t in range(T - 1, -1, -1):
        if t in stops:
            dh_next[stops[t]] = 0.0
        dh_next += dh[:, t]
        dpre[:, t] *= dh_next
        if t:  # at t = 0 it would be the gradient of the zero initial state
            np.matmul(dpre[:, t], WhT, out=dh_next)
    # dWh = sum_t h[t-1]^T dpre[t]: one product over all steps and sentences, per lane.
    h_prev = h[:, :-1].reshape(D, -1, H)  # (D, (T-1)*N, H)
    dWh = np.matmul(h_prev.transpose(0, 2, 1), dpre[:, 1:].reshape(D, -1, H))
    return dpre, dWh


def padding_starts(padded: np.ndarray, D: int, T: int, N: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Step t -> (lanes, sequences) whose padding begins at t going backward in time: padded at t,
    a real step at t+1. padded: positions in (D*T*N). Padding at a lane's end has none."""
    flags = np.zeros(D * T * N + N, dtype=bool)
    flags[padded] = True
    steps = padded // N % T
    starts = padded[~flags[padded + N] & (steps < T - 1)]  # the next step real, in the same lane
    if not len(starts):
        return {}
    d, t, n = starts // (T * N), starts // N % T, starts % N
    return {step: (d[t == step], n[t == step]) for step in set(t.tolist())}


def rnn_lane_forward(x: np.ndarray, Wh: np.ndarray, Wy: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """One lane of an Elman layer and its share of the output scores: x (T, N, H) pre-activations,
    overwritten with the states; Wh (H, H); Wy (H, K), the lane's rows of the output weights.
    Returns y (T*N, K) in the lane's time order (into out when given). Lanes that run apart (in
    two processes) make the same calls on the same numbers as rnn_forward does for all at once."""
    T, N, H = x.shape
    rnn_forward(x[None], Wh[None], out=x[None])
    return np.matmul(x.reshape(T * N, H), Wy, out=out), (x, Wh, Wy)


def rnn_lane_backward(dy: np.ndarray, cache: tuple, padded: np.ndarray, out: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dy (T*N, K), the scores' gradient in the lane's time order; padded: the lane's padded
    positions in (T*N), whose pre-activation was forced to zero. Returns dx (T, N, H) (into out
    when given), zero at padding, dWh (H, H) and dWy (H, K)."""
    h, Wh, Wy = cache
    T, N, H = h.shape
    dWy = h.reshape(T * N, H).T @ dy
    dh = (dy @ Wy.T).reshape(1, T, N, H)
    dx, dWh = rnn_backward(dh, (h[None], Wh[None]), out=None if out is None else out[None], padded=padded)
    dx.reshape(T * N, H)[padded] = 0.0
    return dx[0], dWh[0], dWy


# ---------------------------------------------------------------- gated cells
#
# Both take x (D, T, N, G*H), the input pre-activation of every gate with its bias already added,
# and Wh (D, H, G*H), and return h (D, T, N, H). Gates are stacked along the last axis so that
# every step does one product with Wh. With x = 0 and a zero state the state stays exactly 0,
# which is what lets the model pad the backward lane at its start.


def _one_minus(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """1 - a, into out (which may be a itself) or a new array."""
    return np.subtract(1.0, a, out=out)


def _sigmoid(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Logistic function through tanh, which never overflows: 0.5 + 0.5 * tanh(a / 2)."""
    np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def lstm_forward(x: np.ndarray, Wh: np.ndarray) -> tuple[np.ndarray, tuple]:
    """LSTM with gates [i, f, g, o] (PyTorch's order):

        i, f, o = sigmoid(a_i, a_f, a_o)    g = tanh(a_g)    a = x_t + h_{t-1} . Wh
        c_t = f * c_{t-1} + i * g           h_t = o * tanh(c_t)

    x (D, T, N, 4H), Wh (D, H, 4H) -> h (D, T, N, H)."""
    D, T, N, G = x.shape
    H = G // 4
    gates = np.empty_like(x)  # activated gates, every step
    c = np.empty((D, T, N, H), dtype=x.dtype)
    tanh_c = np.empty_like(c)
    h = np.empty_like(c)
    for t in range(T):
        a = gates[:, t]
        if t == 0:
            a[...] = x[:, 0]
        else:
            np.matmul(h[:, t - 1], Wh, out=a)
            a += x[:, t]
        _sigmoid(a[..., : 2 * H], a[..., : 2 * H])
        np.tanh(a[..., 2 * H : 3 * H], out=a[..., 2 * H : 3 * H])
        _sigmoid(a[..., 3 * H :], a[..., 3 * H :])
        np.multiply(a[..., :H], a[..., 2 * H : 3 * H], out=c[:, t])  # i * g
        if t > 0:
            c[:, t] += a[..., H : 2 * H] * c[:, t - 1]
        np.tanh(c[:, t], out=tanh_c[:, t])
        np.multiply(a[..., 3 * H :], tanh_c[:, t], out=h[:, t])
    return h, (gates, c, tanh_c, h, Wh)


def lstm_backward(dh: np.ndarray, cache: tuple, padded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dh (D, T, N, H) -> dx (D, T, N, 4H), dWh (D, H, 4H). padded: as for rnn_backward, but the
    gradient is not stopped there: the gates damp it through padding, where tanh' is 1."""
    gates, c, tanh_c, h, Wh = cache
    D, T, N, G = gates.shape
    H = G // 4
    i, f, g, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
    c_prev = np.zeros_like(c)
    c_prev[:, 1:] = c[:, :-1]
    # Factors that do not depend on the backward recurrence, for all steps at once.
    # Written as in-place steps: numpy's elision of chained temporaries this big is slow.
    dc_from_dh = np.multiply(tanh_c, tanh_c)  # d c_t / d h_t, through h = o * tanh(c)
    _one_minus(dc_from_dh, out=dc_from_dh)
    dc_from_dh *= o
    by_dc = np.empty((D, T, N, 3, H), dtype=gates.dtype)  # d a_{i,f,g} / d c_t
    for k, (a, b, gate) in enumerate(((g, i, i), (c_prev, f, f))):  # a * gate * (1 - gate)
        np.multiply(a, b, out=by_dc[..., k, :])
        by_dc[..., k, :] *= _one_minus(gate)
    by_dc[..., 2, :] = i
    g_squared = np.multiply(g, g)
    by_dc[..., 2, :] *= _one_minus(g_squared, out=g_squared)
    by_dh = np.multiply(tanh_c, o)  # d a_o / d h_t
    by_dh *= _one_minus(o)
    da = np.empty_like(gates)
    da_dc = da[..., : 3 * H].reshape(D, T, N, 3, H)
    dh_next = np.zeros((D, N, H), dtype=gates.dtype)
    dc_next = np.zeros_like(dh_next)
    WhT = np.ascontiguousarray(Wh.transpose(0, 2, 1))
    for t in range(T - 1, -1, -1):
        dh_next += dh[:, t]  # the total gradient reaching h_t
        dc = dc_next
        dc += dh_next * dc_from_dh[:, t]
        np.multiply(by_dc[:, t], dc[:, :, None, :], out=da_dc[:, t])
        np.multiply(dh_next, by_dh[:, t], out=da[:, t, :, 3 * H :])
        dc_next = dc * f[:, t]
        np.matmul(da[:, t], WhT, out=dh_next)
    h_prev = h[:, :-1].reshape(D, -1, H)
    dWh = np.matmul(h_prev.transpose(0, 2, 1), da[:, 1:].reshape(D, -1, G))
    return da, dWh


def gru_forward(x: np.ndarray, Wh: np.ndarray) -> tuple[np.ndarray, tuple]:
    """GRU with gates [r, z, n], the reset applied after the product (no hidden-side bias):

        r, z = sigmoid(x_rz + h_{t-1} . Wh_rz)      n = tanh(x_n + r * (h_{t-1} . Wh_n))
        h_t = (1 - z) * n + z * h_{t-1}

    x (D, T, N, 3H), Wh (D, H, 3H) -> h (D, T, N, H)."""
    D, T, N, G = x.shape
    H = G // 3
    gates = np.empty_like(x)  # r, z, n after activation
    hn = np.zeros((D, T, N, H), dtype=x.dtype)  # h_{t-1} . Wh_n
    h = np.empty_like(hn)
    product = np.empty((D, N, G), dtype=x.dtype)
    for t in range(T):
        a = gates[:, t]
        if t == 0:
            product[...] = 0.0
        else:
            np.matmul(h[:, t - 1], Wh, out=product)
        np.add(x[:, t, :, : 2 * H], product[..., : 2 * H], out=a[..., : 2 * H])
        _sigmoid(a[..., : 2 * H], a[..., : 2 * H])
        hn[:, t] = product[..., 2 * H :]
        np.multiply(a[..., : H], hn[:, t], out=a[..., 2 * H :])
        a[..., 2 * H :] += x[:, t, :, 2 * H :]
        np.tanh(a[..., 2 * H :], out=a[..., 2 * H :])
        n, z = a[..., 2 * H :], a[..., H : 2 * H]
        if t == 0:
            np.multiply(1.0 - z, n, out=h[:, 0])
        else:
            np.subtract(h[:, t - 1], n, out=h[:, t])  # h = n + z * (h_prev - n)
            h[:, t] *= z
            h[:, t] += n
    return h, (gates, hn, h, Wh)


def gru_backward(dh: np.ndarray, cache: tuple, padded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dh (D, T, N, H) -> dx (D, T, N, 3H), dWh (D, H, 3H). padded: as for rnn_backward, but the
    gradient is not stopped there: the gates damp it through padding, where tanh' is 1."""
    gates, hn, h, Wh = cache
    D, T, N, G = gates.shape
    H = G // 3
    r, z, n = (gates[..., k * H : (k + 1) * H] for k in range(3))
    h_prev = np.zeros_like(h)
    h_prev[:, 1:] = h[:, :-1]
    # Factors that do not depend on the backward recurrence, for all steps at once.
    # Written as in-place steps: numpy's elision of chained temporaries this big is slow.
    to_an = _one_minus(z)  # d a_n / d h_t = (1 - z) * (1 - n^2)
    n_squared = np.multiply(n, n)
    to_an *= _one_minus(n_squared, out=n_squared)
    to_az = np.subtract(h_prev, n)  # d a_z / d h_t = (h_prev - n) * z * (1 - z)
    to_az *= z
    to_az *= _one_minus(z)
    to_ar = np.multiply(hn, r)  # d a_r / d a_n = hn * r * (1 - r)
    to_ar *= _one_minus(r)
    dproduct = np.empty_like(gates)  # gradient of h_{t-1} . Wh, every step
    dx_n = np.empty((D, T, N, H), dtype=gates.dtype)
    dh_next = np.zeros((D, N, H), dtype=gates.dtype)
    WhT = np.ascontiguousarray(Wh.transpose(0, 2, 1))
    for t in range(T - 1, -1, -1):
        dh_next += dh[:, t]  # the total gradient reaching h_t
        dp = dproduct[:, t]
        np.multiply(dh_next, to_an[:, t], out=dx_n[:, t])
        np.multiply(dx_n[:, t], to_ar[:, t], out=dp[..., :H])
        np.multiply(dh_next, to_az[:, t], out=dp[..., H : 2 * H])
        np.multiply(dx_n[:, t], r[:, t], out=dp[..., 2 * H :])
        direct = dh_next * z[:, t]
        np.matmul(dp, WhT, out=dh_next)
        dh_next += direct
    dx = dproduct.copy()
    dx[..., 2 * H :] = dx_n
    dWh = np.matmul(h_prev[:, 1:].reshape(D, -1, H).transpose(0, 2, 1), dproduct[:, 1:].reshape(D, -1, G))
    return dx, dWh


# ---------------------------------------------------------------- output layer


def affine_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """x (M, F) @ W (F, K) + b (K,) -> out (M, K)."""
    return x @ W + b, (x, W)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (M, K) -> dx (M, F), dW (F, K), db (K,)."""
    x, W = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def column_sums(a: np.ndarray) -> np.ndarray:
    """(M, F) -> (F,) as a product with ones: BLAS, where numpy's sum over axis 0 of a narrow
    array is about 3x slower (bias gradients, softmax row sums)."""
    return np.ones(len(a), dtype=a.dtype) @ a


def softmax_cross_entropy(
    logits: np.ndarray, y: np.ndarray, mask: np.ndarray
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy over the unmasked positions, and its gradient.

    logits (M, K), y (M,) int, mask (M,) 0/1 -> loss, dlogits (M, K).
    """
    # numpy reduces K-long rows one at a time: the row maxima come from the transposed copy,
    # reduced column-wise (3x faster at K = 47), and the row sums from column_sums
    shifted = logits - np.ascontiguousarray(logits.T).max(axis=0)[:, None]
    exp = np.exp(shifted)
    sums = column_sums(exp.T)  # (M,)
    rows = np.arange(len(y))
    log_p = shifted[rows, y] - np.log(sums)
    weights = mask.astype(logits.dtype) / max(float(mask.sum()), 1.0)
    loss = float(-(log_p * weights).sum())
    dlogits = exp
    dlogits *= (weights / sums)[:, None]  # softmax times each position's weight
    dlogits[rows, y] -= weights
    return loss, dlogits


def dropout_forward(
    x: np.ndarray, rate: float, rng: np.random.Generator | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout; the identity when rate is 0 or no rng is given (evaluation)."""
    if rate <= 0.0 or rng is None:
        return x, None
    keep = (rng.random(x.shape, dtype=np.float32) >= rate).astype(x.dtype) / (1.0 - rate)
    return x * keep, keep


def dropout_backward(dout: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    return dout if keep is None else dout * keep
