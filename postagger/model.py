"""The tagging network: one-hot input groups -> (bi)directional recurrent layers (Elman by
default; LSTM and GRU cells too) -> softmax per step.

    h_t = tanh(sum_g x_t^g . W^g + h_{t-1} . Whh + bh)        x_t^g one-hot: a row lookup
    p_t = softmax([h_t ; h_t^b] . Why + by)

Parameters live in one flat dict, so that the optimizer, gradcheck and persistence loop over the
same names, and the architecture is read back from those names:

    Wxh (V, DH)         word input          Wxh_<group> (V_g, DH)  extra one-hot input groups
    Whh (H, H), bh (H,) recurrence          Wxh<l> (DH, H), Whh<l>, bh<l>   layer l >= 2
    Why (DH, K), by (K,) output             a `_b` suffix: the same for the backward direction

D is 1 or 2 directions. An input table holds both directions side by side, columns [d*H, (d+1)*H)
for direction d (times the gate count for the LSTM and the GRU), so that a word's row is read,
and its gradient and update written, once for both. Inside, activations are lane-major and
time-major: (D, T, N, H), the backward lane running over reversed time. Padded steps get a zero
pre-activation, so a lane that starts on padding keeps h = 0 until its sentence begins, and
padding never reaches a real token.
This module imports numpy and layers; forward and backward can hand the right-to-left lane to a
lanes.LaneWorker (a second process) that the caller passes in.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from . import layers

SIDE_BY_SIDE_ROWS = 64  # predict_packed's lanes run side by side from this many sentences: narrower steps hand over the GIL too often

# cell name -> (input weight, recurrent weight, bias) base names, gate blocks, forward, backward
CELLS = {
    "rnn": (("Wxh", "Whh", "bh"), 1, layers.rnn_forward, layers.rnn_backward),
    "lstm": (("Wx", "Wh", "b"), 4, layers.lstm_forward, layers.lstm_backward),  # gates [i, f, g, o]
    "gru": (("Wx", "Wh", "b"), 3, layers.gru_forward, layers.gru_backward),  # gates [r, z, n]
}


@dataclass
class RNNConfig:
    """What init_params needs to build a network. Training options live in train.TrainConfig."""

    input_sizes: dict[str, int]  # input group -> vocabulary size; "word" is required
    n_tags: int
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = True
    cell: str = "rnn"
    input_scale: float = 0.1  # std of the one-hot input tables


@dataclass(frozen=True)
class Architecture:
    """The shape of a network, as read from its parameter names."""

    cell: str
    directions: int
    layers: int
    hidden: int
    groups: tuple[str, ...] = field(default=("word",))

    @property
    def names(self) -> tuple[str, str, str]:
        return CELLS[self.cell][0]

    def input_key(self, group: str) -> str:
        """The one-hot input table of a group, (V_g, D * gates * H), every direction's block."""
        wx = self.names[0]
        return wx if group == "word" else f"{wx}_{group}"

    def layer_keys(self, layer: int, direction: int) -> tuple[str, str, str]:
        """(input weight, recurrent weight, bias) of a layer (1-based); layer 1's input weights
        are the per-group tables of input_key."""
        tag = "" if layer == 1 else str(layer)
        wx, wh, b = (_suffix(f"{name}{tag}", direction) for name in self.names)
        return wx, wh, b

    def keys(self) -> list[str]:
        keys = [self.input_key(g) for g in self.groups]
        for d in range(self.directions):
            for layer in range(1, self.layers + 1):
                wx, wh, b = self.layer_keys(layer, d)
                keys += [wh, b] if layer == 1 else [wx, wh, b]
        return keys + ["Why", "by"]


def _suffix(name: str, direction: int) -> str:
    return name + ("_b" if direction == 1 else "")


def architecture(params: dict[str, np.ndarray]) -> Architecture:
    """Read cell, directions, layers and input groups from the parameter names and shapes."""
    return _architecture(tuple((name, value.shape) for name, value in params.items()))


@functools.lru_cache(maxsize=32)  # every forward asks; the answer depends on names and shapes only
def _architecture(names_and_shapes: tuple) -> Architecture:
    shapes = dict(names_and_shapes)
    for cell, ((wx, wh, b), gates, _, _) in CELLS.items():
        if wh in shapes and len(shapes[wh]) == 2 and shapes[wh][1] == gates * shapes[wh][0]:
            break
    else:
        present = [f"{name} has shape {shapes[name]}" for (_, name, _), *_ in CELLS.values() if name in shapes]
        if present:  # a known name, of no cell's shape (H, gates * H)
            raise ValueError(f"{present[0]}; a recurrent weight is (H, H), or (H, 4H) for the LSTM, (H, 3H) for the GRU")
        raise ValueError("parameters hold no known recurrent weight (Whh, ...)")
    hidden = shapes[wh][0]
    backward = re.compile(rf"(?:{wh}|{b})\d*_b|{wx}\d+_b")  # any right-to-left weight, so that a missing one is named
    directions = 2 if any(backward.fullmatch(k) for k in shapes) else 1
    n_layers = 1
    while f"{wh}{n_layers + 1}" in shapes:
        n_layers += 1
    extra = sorted(k[len(wx) + 1 :] for k in shapes if k.startswith(f"{wx}_"))
    arch = Architecture(cell, directions, n_layers, hidden, ("word", *extra))
    expected = set(arch.keys())
    if expected != set(shapes):
        missing, unknown = sorted(expected - set(shapes)), sorted(set(shapes) - expected)
        raise ValueError(f"parameters do not form a network: missing {missing}, unknown {unknown}")
    width = directions * shapes[wh][1]
    for key in map(arch.input_key, arch.groups):
        if len(shapes[key]) != 2 or shapes[key][1] != width:
            raise ValueError(f"{key} has shape {shapes[key]}; {directions} direction(s) of {hidden} units need {width} columns")
    return arch


def param_shapes(arch: Architecture, input_sizes: dict[str, int], n_tags: int) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of a network, as init_params makes them: the input
    tables (V_g, D * gates * H); per layer and direction Wh (H, gates * H), b (gates * H,) and,
    above the first layer, Wx (D * H, gates * H); the output Why (D * H, K) and by (K,)."""
    D, H, gates = arch.directions, arch.hidden, CELLS[arch.cell][1]
    shapes = {arch.input_key(g): (input_sizes[g], D * gates * H) for g in arch.groups}
    for d in range(D):
        for layer in range(1, arch.layers + 1):
            wx, wh, b = arch.layer_keys(layer, d)
            if layer > 1:
                shapes[wx] = (D * H, gates * H)
            shapes[wh], shapes[b] = (H, gates * H), (gates * H,)
    shapes["Why"], shapes["by"] = (D * H, n_tags), (n_tags,)
    return shapes


def init_params(cfg: RNNConfig, rng: np.random.Generator, dtype=np.float32) -> dict[str, np.ndarray]:
    """Random parameters for cfg, drawn in a fixed order from rng."""
    if cfg.cell not in CELLS:
        raise ValueError(f"unknown cell {cfg.cell!r}")
    if "word" not in cfg.input_sizes:
        raise ValueError('input_sizes needs a "word" group')
    groups = ("word", *sorted(g for g in cfg.input_sizes if g != "word"))
    D, H = (2 if cfg.bidirectional else 1), cfg.hidden
    arch = Architecture(cfg.cell, D, cfg.layers, H, groups)
    gates = CELLS[cfg.cell][1]
    params: dict[str, np.ndarray] = {}
    tables = {g: np.empty((cfg.input_sizes[g], D * gates * H), dtype=dtype) for g in groups}
    for d in range(D):
        for g in groups:  # each direction's block of every input table, cast as it is stored
            block = rng.normal(0.0, cfg.input_scale, (cfg.input_sizes[g], gates * H))
            tables[g][:, d * gates * H : (d + 1) * gates * H] = block
        for layer in range(1, cfg.layers + 1):
            wx, wh, b = arch.layer_keys(layer, d)
            if layer > 1:
                fan_in = D * H
                params[wx] = rng.uniform(-1, 1, (fan_in, gates * H)) * np.sqrt(3.0 / fan_in)
            blocks = [_orthogonal(rng, H) for _ in range(gates)]  # Whh starts orthogonal
            params[wh] = np.concatenate(blocks, axis=1)
            params[b] = np.zeros(gates * H)
            if cfg.cell in ("lstm", "gru"):
                # remember by default: the LSTM's forget gate [i, f, g, o] and the GRU's update
                # gate [r, z, n] start at sigmoid(1) = 0.73
                params[b][H : 2 * H] = 1.0
    for g in groups:
        params[arch.input_key(g)] = tables[g]
    params["Why"] = rng.normal(0.0, 1.0 / np.sqrt(D * H), (D * H, cfg.n_tags))
    params["by"] = np.zeros(cfg.n_tags)
    return {k: v.astype(dtype, copy=False) for k, v in params.items()}


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------- forward and backward


def _time_major(ids: np.ndarray, direction: int) -> np.ndarray:
    """(N, T) -> (T, N), reversed in time for the backward lane."""
    ids_t = ids.T
    return ids_t[::-1] if direction == 1 else ids_t


def _lane_major(ids: np.ndarray, D: int) -> np.ndarray:
    """(N, T) -> (D, T, N): each lane's time-major copy, the layout of the activations."""
    return np.stack([_time_major(ids, d) for d in range(D)])


def _project_lanes(h: np.ndarray, W: np.ndarray) -> np.ndarray:
    """[h_fwd ; h_bwd] @ W in natural time order, without joining the lanes: each lane is
    multiplied by its block of W's rows and the backward lane's product is flipped in time.
    h (D, T, N, H), W (D*H, K) -> (T, N, K)."""
    D, T, N, H = h.shape
    out = (h[0].reshape(T * N, H) @ W[:H]).reshape(T, N, -1)
    if D == 2:
        out += (h[1].reshape(T * N, H) @ W[H:]).reshape(T, N, -1)[::-1]
    return out


def _project_lanes_backward(dout: np.ndarray, h: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dout (T, N, K) -> dW (D*H, K) and dh (D, T, N, H) in lane order."""
    D, T, N, H = h.shape
    dW = np.empty_like(W)
    dh = np.empty_like(h)
    for d in range(D):
        lane_dout = (dout if d == 0 else np.ascontiguousarray(dout[::-1])).reshape(T * N, -1)
        np.matmul(h[d].reshape(T * N, H).T, lane_dout, out=dW[d * H : (d + 1) * H])
        np.matmul(lane_dout, W[d * H : (d + 1) * H].T, out=dh[d].reshape(T * N, H))  # no temporary to copy
    return dW, dh


def input_preactivations(params: dict[str, np.ndarray], arch: Architecture, inputs: dict[str, np.ndarray],
                         chunk: int = 256, out: np.ndarray | None = None, lane: int | None = None) -> np.ndarray:
    """The first layer's input pre-activation of each word type: (D, U, F) = sum of one row per
    group, plus the bias, each lane contiguous. inputs: group -> ids (U,). out (D, U, F), when
    given, receives the result. lane: that lane's only, (1, U, F), the same numbers: its half
    of every row (the tables read as (D*V, F), rows D*id + lane).

    Types are summed `chunk` at a time into one reused buffer, so that the partial sums stay in
    cache through the G lookups and no (U, D*F) temporary is allocated per group."""
    tables = [params[arch.input_key(g)] for g in arch.groups]
    ids = [inputs[g] for g in arch.groups]
    D, U = arch.directions, len(ids[0])
    lanes = range(D) if lane is None else (lane,)
    bias = np.concatenate([params[arch.layer_keys(1, d)[2]] for d in lanes])  # (lanes*F,)
    if lane is not None:
        tables = [table.reshape(-1, table.shape[1] // D) for table in tables]
        ids = [type_ids * D + lane for type_ids in ids]
    width = tables[0].shape[1]
    if out is None:
        out = np.empty((len(lanes), U, width // len(lanes)), dtype=tables[0].dtype)
    total, part = (np.empty((min(U, chunk), width), dtype=out.dtype) for _ in range(2))
    for start in range(0, U, chunk):
        stop = min(start + chunk, U)
        rows, row = total[: stop - start], part[: stop - start]
        rows[...] = bias
        for table, table_ids in zip(tables, ids):
            table.take(table_ids[start:stop], axis=0, out=row, mode="clip")  # ids are in range; "raise" would buffer
            rows += row
        out[:, start:stop] = rows.reshape(len(rows), len(lanes), -1).transpose(1, 0, 2)  # the table layout -> lanes
    return out


def forward(
    params: dict[str, np.ndarray],
    inputs: dict[str, np.ndarray],
    tokens: np.ndarray,
    mask: np.ndarray,
    *,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    by_type: np.ndarray | None = None,
    lanes=None,
) -> tuple[np.ndarray, tuple]:
    """Tag scores (T*N, K'), time-major, and the cache for backward. K' >= K: the tags padded
    as in _output_layer, whose scores are -inf.

    inputs: group -> ids (U,) of U word types; tokens (N, T): the type at each position;
    mask (N, T). Dropout is applied to each layer's output states when rate > 0 and an rng
    is given. by_type (D, U, F), when given, holds input_preactivations computed beforehand
    (tagging many batches of one corpus); inputs is then not used. lanes: a lanes.LaneWorker
    that runs the right-to-left lane of a one-layer bidirectional Elman network without dropout
    in its own process (other networks, and batches too large for it, run here).
    """
    arch = architecture(params)
    cell_forward = CELLS[arch.cell][2]
    D = arch.directions
    N, T = mask.shape
    dtype = params["Why"].dtype
    padded = np.flatnonzero(_lane_major(mask, D) == 0)  # in (D*T*N)
    if lanes is not None:
        lanes.settle()  # the worker's update of the shared tables is done before anything reads them
    if lanes is not None and runs_apart(params, dropout if rng is not None else 0.0) and lanes.fits(T, N):
        scores, lanes_cache = _forward_apart(params, arch, inputs, by_type, tokens, padded, lanes)
        return scores, (params, arch, inputs, tokens, padded, lanes_cache, None)

    caches = []
    h = None  # (D, T, N, H): the previous layer's lanes
    for layer in range(1, arch.layers + 1):
        if layer == 1:
            if by_type is None:
                by_type = input_preactivations(params, arch, inputs)  # (D, U, F)
            x = np.empty((D, T, N, by_type.shape[2]), dtype=dtype)
            for d in range(D):
                by_type[d].take(_time_major(tokens, d), axis=0, out=x[d], mode="clip")
        else:
            x = np.empty((D, T, N, params[arch.layer_keys(layer, 0)[0]].shape[1]), dtype=dtype)
            for d in range(D):
                wx, _, b = arch.layer_keys(layer, d)
                proj = _project_lanes(h, params[wx])  # natural time
                np.add(proj[::-1] if d == 1 else proj, params[b], out=x[d])
        x.reshape(D * T * N, -1)[padded] = 0.0  # padding must not move the state
        Wh = np.stack([params[arch.layer_keys(layer, d)[1]] for d in range(D)])
        # x is not needed after the cell: the Elman cell writes its states over it
        h, cell_cache = cell_forward(x, Wh, out=x) if arch.cell == "rnn" else cell_forward(x, Wh)
        h, keep = layers.dropout_forward(h, dropout, rng)
        caches.append((cell_cache, keep, h))
    Why, by = _output_layer(params)
    scores = _project_lanes(h, Why).reshape(T * N, -1)
    scores += by
    return scores, (params, arch, inputs, tokens, padded, caches, Why)


def runs_apart(params: dict[str, np.ndarray], dropout: float = 0.0) -> bool:
    """Whether a lanes.LaneWorker can run the network's right-to-left lane in its own process:
    a one-layer bidirectional Elman network in float32, without dropout."""
    arch = architecture(params)
    return (arch.cell, arch.layers, arch.directions) == ("rnn", 1, 2) and not dropout and params["Why"].dtype == np.float32


def score_columns(params: dict[str, np.ndarray]) -> int:
    """K': the columns of forward's scores (see _output_layer)."""
    return _output_layer(params)[0].shape[1]


class _ApartCache(NamedTuple):
    lanes: object  # the LaneWorker, which keeps lane 1's cache
    batch: int  # the worker's number for the batch: a later forward makes this cache stale
    lane0: tuple  # lane 0's cache from layers.rnn_lane_forward


def _forward_apart(params: dict[str, np.ndarray], arch: Architecture, inputs: dict[str, np.ndarray],
                   by_type: np.ndarray | None, tokens: np.ndarray, padded: np.ndarray, lanes) -> tuple[np.ndarray, _ApartCache]:
    """forward's Elman layer and output layer with lane 1 in the lane worker's process: the same
    steps as forward and _project_lanes take. The worker makes lane 1's input pre-activations
    itself when it reads the tables (lanes.reads_tables); otherwise lane 1's are made here, first,
    so that it starts early. by_type: see forward; tokens (N, T); padded: positions in (2*T*N)."""
    N, T = tokens.shape
    H = arch.hidden
    Why, by = _output_layer(params)
    (_, wh0, _), (_, wh1, b1) = arch.layer_keys(1, 0), arch.layer_keys(1, 1)
    x = lanes.inputs(T, N)  # (2, T, N, H), shared
    split = np.searchsorted(padded, T * N)  # lane 0's padded positions, then lane 1's
    lane_padded = (padded[:split], padded[split:] - T * N)
    if by_type is None and lanes.reads_tables:
        batch = lanes.start_forward(T, N, params[wh1], Why[H:], lane_padded[1],
                                    inputs=[inputs[g] for g in arch.groups], tokens=tokens, bias=params[b1])
        lane_inputs(input_preactivations(params, arch, inputs, lane=0)[0], tokens, 0, x[0], lane_padded[0])
    else:
        by_type = input_preactivations(params, arch, inputs) if by_type is None else by_type  # (2, U, H)
        lane_inputs(by_type[1], tokens, 1, x[1], lane_padded[1])
        batch = lanes.start_forward(T, N, params[wh1], Why[H:], lane_padded[1])
        lane_inputs(by_type[0], tokens, 0, x[0], lane_padded[0])
    y, lane0 = layers.rnn_lane_forward(x[0], params[wh0], Why[:H])
    scores = y.reshape(T, N, -1)
    scores += lanes.finish_forward().reshape(T, N, -1)[::-1]  # lane 1 runs right to left
    scores = scores.reshape(T * N, -1)
    scores += by
    return scores, _ApartCache(lanes, batch, lane0)


def lane_inputs(by_type: np.ndarray, tokens: np.ndarray, lane: int, out: np.ndarray, padded: np.ndarray) -> None:
    """A lane's input pre-activation at every position: by_type (U, H), tokens (N, T) -> out
    (T, N, H), in the lane's time order, zero at its padded positions (in T*N)."""
    by_type.take(_time_major(tokens, lane), axis=0, out=out, mode="clip")
    out.reshape(-1, out.shape[-1])[padded] = 0.0  # padding must not move the state


def _backward_apart(dscores: np.ndarray, cache: tuple, sparse: bool) -> dict[str, np.ndarray]:
    """backward for a forward run with _forward_apart: the same grads, in the same order. When
    the worker updates input tables, their gradient rows are in its shared memory until the next
    batch (LaneWorker.table_grads)."""
    params, arch, inputs, tokens, padded, apart, _ = cache
    N, T = tokens.shape
    K = params["by"].shape[0]
    apart.lanes.start_backward(apart.batch, dscores)
    dx = apart.lanes.gradients(T, N)  # (2, T, N, H), shared
    lane0_padded = padded[: np.searchsorted(padded, T * N)]
    _, dWh0, dWy0 = layers.rnn_lane_backward(dscores, apart.lane0, lane0_padded, out=dx[0])
    dby = layers.column_sums(dscores)[:K]  # what needs no lane 1 is done while it runs
    plan = _input_grad_plan(params, arch, inputs, tokens)
    dWh1, dWy1 = apart.lanes.finish_backward()
    grads: dict[str, np.ndarray] = {"by": dby, "Why": np.concatenate([dWy0[:, :K], dWy1[:, :K]])}
    grads.update(_input_grads(params, arch, inputs, tokens, dx, sparse, plan, rows_buffer=apart.lanes.table_grads))
    for d, dWh in enumerate((dWh0, dWh1)):
        _, wh, b = arch.layer_keys(1, d)
        grads[wh] = dWh
        grads[b] = layers.column_sums(dx[d].reshape(T * N, -1))
    return grads


def _output_layer(params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Why (D*H, K') and by (K',) with K' = K rounded up to a multiple of 16: BLAS works on
    blocks of 16 floats, and 47 tags cost a quarter more than 48. An added tag has zero weights
    and a bias of -inf: its probability and its gradient are exactly 0."""
    Why, by = params["Why"], params["by"]
    extra = -Why.shape[1] % 16
    if extra:
        Why = np.concatenate([Why, np.zeros((len(Why), extra), dtype=Why.dtype)], axis=1)
        by = np.concatenate([by, np.full(extra, -np.inf, dtype=by.dtype)])
    return Why, by


def backward(dscores: np.ndarray, cache: tuple, *, sparse: bool = False) -> dict[str, np.ndarray]:
    """dscores (T*N, K'), the loss gradient of forward's scores -> grads with the keys of params
    (those of the added tags dropped). With sparse=True the one-hot input
    tables get a RowGrad holding only the rows that the batch used."""
    params, arch, inputs, tokens, padded, caches, Why = cache
    if isinstance(caches, _ApartCache):
        return _backward_apart(dscores, cache, sparse)
    cell_backward = CELLS[arch.cell][3]
    D = arch.directions
    N, T = tokens.shape
    K = params["by"].shape[0]  # dscores may hold the added tags of _output_layer (their gradient is 0)
    dWhy, dh = _project_lanes_backward(dscores.reshape(T, N, -1), caches[-1][2], Why)
    grads: dict[str, np.ndarray] = {"by": layers.column_sums(dscores)[:K], "Why": np.ascontiguousarray(dWhy[:, :K])}
    for layer in range(arch.layers, 0, -1):
        cell_cache, keep, _ = caches[layer - 1]
        dx, dWh = cell_backward(layers.dropout_backward(dh, keep), cell_cache, padded=padded)
        dx.reshape(D * T * N, -1)[padded] = 0.0  # padded steps had their pre-activation forced to zero
        if layer == 1:
            grads.update(_input_grads(params, arch, inputs, tokens, dx, sparse))
        else:
            below = caches[layer - 2][2]  # this layer's input lanes
            dh = np.zeros_like(below)
        for d in range(D):
            wx, wh, b = arch.layer_keys(layer, d)
            grads[wh] = dWh[d]
            grads[b] = layers.column_sums(dx[d].reshape(T * N, -1))
            if layer > 1:
                dproj = np.ascontiguousarray(dx[d, ::-1]) if d == 1 else dx[d]  # natural time
                grads[wx], dbelow = _project_lanes_backward(dproj, below, params[wx])
                dh += dbelow
    return grads


def _input_grad_plan(params, arch: Architecture, inputs, tokens: np.ndarray) -> tuple:
    """The index work of _input_grads, which needs no gradient: the types' rows of the first sum
    (D, T, N), the tables' offsets in one id space, and the rows present with each type's rows
    among them (see layers.embed_backward_rows)."""
    D = arch.directions
    n_types = len(inputs[arch.groups[0]])
    lane_rows = _lane_major(tokens, D) * D + np.arange(D)[:, None, None]  # (D, T, N)
    keys = [arch.input_key(g) for g in arch.groups]
    offsets = np.cumsum([0] + [len(params[key]) for key in keys])
    ids = np.stack([inputs[g] for g in arch.groups]) + offsets[:-1, None]  # (G, U)
    rows, inverse = layers.rows_present(ids.T, n_rows=int(offsets[-1]))  # (R,), (U, G)
    return n_types, lane_rows, keys, offsets, rows, inverse


def _input_grads(params, arch: Architecture, inputs, tokens: np.ndarray, dx: np.ndarray, sparse: bool,
                 plan: tuple | None = None, rows_buffer=None) -> dict:
    """Gradients of the one-hot input tables from dx (D, T, N, F); plan: _input_grad_plan's,
    when made beforehand; rows_buffer(R, width), when given: an array to sum the tables'
    gradient rows into, or None (see lanes.LaneWorker.table_grads).

    Positions are first summed into their word types, then the types into the rows of every
    group at once: group g's ids are offset past the earlier groups' tables, so one sparse
    product serves all groups. Lane d's gradients at the positions of type u go to row D*u + d, so
    that the (D*U, F) sums read as (U, D*F) are in the layout of the tables, with no joining copy;
    each table's gradient is a block of rows of the result.
    """
    D, T, N, F = dx.shape
    plan = plan or _input_grad_plan(params, arch, inputs, tokens)
    n_types, lane_rows, keys, offsets, rows, inverse = plan
    by_type = layers.sum_rows(dx.reshape(D * T * N, F), lane_rows.reshape(-1), D * n_types).reshape(n_types, D * F)
    buffer = rows_buffer(len(rows), D * F) if rows_buffer is not None else None
    summed = layers.sum_rows(by_type, inverse, len(rows), out=buffer)  # (R, D*F)
    bounds = np.searchsorted(rows, offsets)
    grads = {}
    for i, key in enumerate(keys):
        table = layers.RowGrad(rows[bounds[i] : bounds[i + 1]] - offsets[i], summed[bounds[i] : bounds[i + 1]])
        grads[key] = table if sparse else table.to_dense(params[key].shape)
    return grads


def loss_and_grads(
    params: dict[str, np.ndarray],
    words: np.ndarray,
    tags: np.ndarray,
    mask: np.ndarray,
    features: dict[str, np.ndarray] | None = None,
    *,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    sparse: bool = False,
    lanes=None,
) -> tuple[float, dict[str, np.ndarray]]:
    """Mean cross-entropy over the unmasked tokens, and its gradient for every parameter.

    words, tags, mask (N, T); features: group -> ids (N, T) for each extra input table.
    Works in the dtype of params (float64 for gradcheck, float32 for training). lanes: see forward.
    """
    inputs, tokens = _positions_as_types(words, mask, features)
    return batch_loss_and_grads(params, inputs, tokens, tags, mask, dropout=dropout, rng=rng, sparse=sparse, lanes=lanes)


def loss(params: dict[str, np.ndarray], words: np.ndarray, tags: np.ndarray, mask: np.ndarray,
         features: dict[str, np.ndarray] | None = None) -> float:
    """loss_and_grads's loss alone, without the backward pass: all that finite differences need."""
    inputs, tokens = _positions_as_types(words, mask, features)
    scores, _ = forward(params, inputs, tokens, mask)
    return layers.softmax_cross_entropy(scores, tags.T.reshape(-1), mask.T.reshape(-1))[0]


def _positions_as_types(words: np.ndarray, mask: np.ndarray, features: dict[str, np.ndarray] | None):
    """forward's inputs and tokens for a batch of ids (N, T): every position its own word type."""
    N, T = mask.shape
    inputs = {g: ids.reshape(-1) for g, ids in {"word": words, **(features or {})}.items()}
    return inputs, np.arange(N * T).reshape(N, T)


def batch_loss_and_grads(
    params: dict[str, np.ndarray],
    inputs: dict[str, np.ndarray],
    tokens: np.ndarray,
    tags: np.ndarray,
    mask: np.ndarray,
    *,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    sparse: bool = True,
    lanes=None,
) -> tuple[float, dict]:
    """loss_and_grads for a batch given by word types (see forward), by default with row-sparse
    gradients for the input tables: what the training loop uses. lanes: see forward."""
    scores, cache = forward(params, inputs, tokens, mask, dropout=dropout, rng=rng, lanes=lanes)
    loss, dscores = layers.softmax_cross_entropy(scores, tags.T.reshape(-1), mask.T.reshape(-1))
    return loss, backward(dscores, cache, sparse=sparse)


def predict_scores(
    params: dict[str, np.ndarray], inputs: dict[str, np.ndarray], tokens: np.ndarray, mask: np.ndarray,
    by_type: np.ndarray | None = None, skip: int = 0,
) -> np.ndarray:
    """Tag scores (N, T, K) for a batch, without dropout; the first `skip` tags (ids never to
    predict) score -inf, as in predict_packed."""
    N, T = mask.shape
    scores, _ = forward(params, inputs, tokens, mask, by_type=by_type)
    scores = scores.reshape(T, N, -1).transpose(1, 0, 2)[..., : params["by"].shape[0]]
    scores[..., :skip] = -np.inf
    return scores


def packing(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step-major packing of N sentences, longest first: lengths (N,) non-increasing, all > 0.

    Packed step t holds the counts[t] sentences longer than t, in rows [offset_t, offset_t +
    counts[t]), sentence i at row offset_t + i. Returns counts (T,) and order (D=2, M): the
    token each packed row reads, as a position among the N sentences' tokens laid end to end,
    for the left-to-right lane (token t) and the right-to-left lane (token L_i - 1 - t), so that
    both lanes start every sentence at step 0 and no step holds padding."""
    lengths = np.asarray(lengths, dtype=np.int64)
    N, T = len(lengths), int(lengths[0]) if len(lengths) else 0
    counts = N - np.cumsum(np.bincount(lengths, minlength=T + 1))[:T]  # (T,) sentences longer than t
    step_of_row = np.repeat(np.arange(T), counts)  # (M,)
    sentence_of_row = np.arange(len(step_of_row)) - np.repeat(np.cumsum(counts) - counts, counts)
    start = (np.cumsum(lengths) - lengths)[sentence_of_row]
    order = np.empty((2, len(step_of_row)), dtype=np.int64)
    np.add(start, step_of_row, out=order[0])
    np.add(start, lengths[sentence_of_row] - 1 - step_of_row, out=order[1])
    return counts, order


def predict_packed(params: dict[str, np.ndarray], by_row: np.ndarray, rows: np.ndarray, lengths: np.ndarray,
                   skip: int = 0, side_by_side: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Tag scores of N sentences laid end to end, without padding, for Elman networks: scores
    (M, K') in packed order, and each token's row in it (M,), so that scores[row_of_token] is in
    token order. K' >= K: the tags padded as in _output_layer score -inf, as do the first `skip`
    tags (ids never to predict), so that an arg max can run over whole rows.

    by_row (D, R, F): input pre-activations (see input_preactivations); rows (M,): each token's
    row in by_row, the sentences end to end; lengths (N,) non-increasing, all > 0. The states
    of each lane are packed by step (see packing), so every step multiplies only the sentences
    still running, and a batch can hold hundreds of sentences of any lengths. The scores stay in
    the left-to-right lane's packed order: one (M, K') gather fewer than token order.

    side_by_side(run, lanes) calls run(lane) for each lane, a slice of the D lanes, and returns
    when all are done: the tagger runs them in threads (numpy releases the GIL in products, tanh
    and gathers), in batches of SIDE_BY_SIDE_ROWS sentences or more. Without it, each layer runs
    all lanes at once, in one Python loop."""
    arch = architecture(params)
    if arch.cell != "rnn":
        raise ValueError(f"predict_packed serves the Elman cell, not {arch.cell!r}")
    D, M = arch.directions, len(rows)
    counts, order = packing(lengths)
    order = order[:D]
    where = np.empty_like(order)  # the packed row of each token, per lane
    for d in range(D):
        where[d, order[d]] = np.arange(M)
    R, F = by_row.shape[1:]
    table, ids = by_row.reshape(D * R, F), rows[order] + R * np.arange(D)[:, None]  # each lane's rows of table
    Why, by = _output_layer(params)
    Wy = Why.reshape(D, -1, Why.shape[1])
    if len(lengths) < SIDE_BY_SIDE_ROWS:
        side_by_side = None
    lanes = [slice(None)] if side_by_side is None else [slice(d, d + 1) for d in range(D)]
    run_lanes = side_by_side or _one_after_another
    for layer in range(1, arch.layers + 1):
        Wh = np.stack([params[arch.layer_keys(layer, d)[1]] for d in range(D)])
        if layer == arch.layers:  # gathered and projected step by step
            y = np.empty((D, M, Wy.shape[2]), dtype=table.dtype)
            run_lanes(lambda s: layers.rnn_scores_packed(table, ids[s], Wh[s], Wy[s], counts, out=y[s]), lanes)
            break
        x = np.take(table, ids, axis=0, mode="clip")  # (D, M, F)
        run_lanes(lambda s: layers.rnn_forward_packed(x[s], Wh[s], counts, out=x[s]), lanes)
        h = x  # x is not needed after the cell
        # the input of the next layer: both lanes of this one at each token, in each lane's packed order
        projections = [_tokens_from_lanes(h, params[arch.layer_keys(layer + 1, d)[0]], where) for d in range(D)]
        table = np.concatenate([projections[d][order[d]] + params[arch.layer_keys(layer + 1, d)[2]] for d in range(D)])
        ids = np.arange(D * M).reshape(D, M)
    scores = y[0]
    for d in range(1, D):  # the other lanes' rows of the same tokens
        scores += np.take(y[d], where[d][order[0]], axis=0)
    if skip:
        by = by.copy()
        by[:skip] = -np.inf
    scores += by
    return scores, where[0]


def _one_after_another(run: Callable, lanes: list) -> None:
    for lane in lanes:
        run(lane)


def _tokens_from_lanes(h: np.ndarray, W: np.ndarray, where: np.ndarray) -> np.ndarray:
    """[h_fwd ; h_bwd] @ W at every token: h (D, M, H) packed lanes, where (D, M) each token's
    packed row per lane, W (D*H, K) -> (M, K). Each lane is multiplied by its block of W's rows,
    then its rows are put in token order."""
    D, _, H = h.shape
    out = np.take(h[0] @ W[:H], where[0], axis=0)
    for d in range(1, D):
        out += np.take(h[d] @ W[d * H : (d + 1) * H], where[d], axis=0)
    return out


def predict(
    params: dict[str, np.ndarray], inputs: dict[str, np.ndarray], tokens: np.ndarray, mask: np.ndarray,
    skip: int = 0,
) -> np.ndarray:
    """The best tag id (N, T) at every position, never one of the first `skip` ids (reserved
    ids such as PAD and UNK). Padded positions hold arbitrary ids."""
    return predict_scores(params, inputs, tokens, mask, skip=skip).argmax(axis=-1)
