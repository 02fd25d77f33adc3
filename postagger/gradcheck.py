"""Analytic BPTT gradients against centred finite differences, parameter by parameter.

Everything here runs in float64. The numerical gradient nudges one entry by +-h, recomputes the
loss from scratch (so no forward cache can be reused) and restores the entry exactly.
This module imports numpy and nothing else.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import model

LossAndGrads = Callable[..., tuple[float, dict[str, np.ndarray]]]


def numerical_grad(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred difference (f(x+h) - f(x-h)) / 2h for every entry of x, modified in place."""
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = f()
        x[ix] = old - h
        minus = f()
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
    return grad


def extrapolated_grad(f: Callable[[], float], x: np.ndarray, h: float) -> np.ndarray:
    """Richardson's extrapolation of two centred differences, (4 D(h/2) - D(h)) / 3: its
    truncation error is O(h^4), so a step large enough for a large loss's round-off stays exact
    where the loss curves steeply."""
    return (4 * numerical_grad(f, x, h / 2) - numerical_grad(f, x, h)) / 3


# A centred difference of a loss near 1 carries float64 round-off of about 1e-16 / h = 1e-11, so
# an entry smaller than the floor is judged by its absolute error, scaled by the floor.
RESOLUTION_FLOOR = 1e-4


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = RESOLUTION_FLOOR) -> np.ndarray:
    """|a - b| / max(|a| + |b|, floor) per entry. The sum of magnitudes, never |a + b|, which
    vanishes when the two have opposite signs."""
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


def input_sizes(vocab: int, groups: int) -> dict[str, int]:
    """The word table's rows and the extra groups': 15, 16, ... by default, so none is square."""
    return {"word": vocab, **{f"g{i}": vocab + 3 + i for i in range(1, groups + 1)}}


def hiding_sizes(*, seq_len: int, batch: int, hidden: int, vocab: int, tags: int, groups: int,
                 bidirectional: bool, cell: str) -> str | None:
    """Why a problem of these sizes could pass with a BPTT mistake in it, or None: fewer than 3
    steps (no gradient through h over two steps), one sentence (no padding), or equal sizes,
    under which a transposed matrix or a swapped axis still fits."""
    if seq_len < 3 or batch < 2:
        return f"T = {seq_len} and N = {batch}: T must be 3 or more and N 2 or more (padding)"
    if hidden < 2:
        return f"H = {hidden}: H must be 2 or more (a 1 x 1 Whh is its own transpose)"
    if len({seq_len, batch, hidden, vocab, tags}) < 5:
        return f"T, N, H, V and K must all differ (got {seq_len}, {batch}, {hidden}, {vocab}, {tags})"
    directions, gates = (2 if bidirectional else 1), model.CELLS[cell][1]
    for name, rows in input_sizes(vocab, groups).items():
        if rows == directions * gates * hidden:  # (V_g, D * gates * H)
            return f"the {name} input table would be square ({rows} x {rows})"
    if tags == directions * hidden:  # Why (D * H, K)
        return f"Why would be square ({tags} x {tags})"
    return None


def random_problem(
    *,
    seq_len: int = 5,
    batch: int = 3,
    hidden: int = 7,
    vocab: int = 11,
    tags: int = 6,
    groups: int = 1,
    layers: int = 1,
    bidirectional: bool = False,
    cell: str = "rnn",
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict]:
    """A random float64 network and a padded batch: the first sentence fills all seq_len steps,
    every other one is shorter when seq_len > 1, so the batch always holds padding."""
    rng = np.random.default_rng(seed)
    sizes = input_sizes(vocab, groups)
    cfg = model.RNNConfig(
        input_sizes=sizes, n_tags=tags, hidden=hidden, layers=layers,
        bidirectional=bidirectional, cell=cell, input_scale=0.5,
    )
    params = model.init_params(cfg, rng, dtype=np.float64)
    for key in params:  # non-zero biases, so that their gradient paths are exercised
        if params[key].ndim == 1:
            params[key] = rng.normal(0.0, 0.5, params[key].shape)
    lengths = np.r_[seq_len, rng.integers(1, max(seq_len, 2), size=batch - 1)][:batch]
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int64)
    ids = {g: rng.integers(1, n, size=(batch, seq_len)) * mask for g, n in sizes.items()}
    batch_data = {
        "words": ids.pop("word"),
        "tags": rng.integers(0, tags, size=(batch, seq_len)) * mask,
        "mask": mask,
        "features": ids,
    }
    return params, batch_data


def check_gradients(
    params: dict[str, np.ndarray],
    batch: dict,
    loss_and_grads: LossAndGrads = model.loss_and_grads,
    h: float = 1e-5,
    loss: Callable[..., float] | None = None,
) -> dict[str, float]:
    """The largest relative error between analytic and numerical gradient, per parameter (1, the
    largest there is, for a gradient of another shape).

    The numerical gradient differentiates loss (params, **batch) -> float, which must give
    loss_and_grads's loss: by default model.loss, without a backward pass, for
    model.loss_and_grads, else loss_and_grads's own. Where the two losses differ at the weights
    checked, loss_and_grads's own is differentiated. Two traps for common mistakes:

    - the analytic gradients come from a second call, after one at other weights, so that a
      backward that reuses an earlier call's forward cache is caught;
    - every parameter is checked again with the output weights scaled by STEEP, where gradient
      entries and norms are far above any clipping threshold (train clips the global norm at
      5), so that gradients clipped inside the loss, by global norm, per array, per entry or
      inside the time loop, come out wrong. The loss curves steeply there: its numerical
      gradient is extrapolated from steps of STEEP_STEP and half that.
    Each parameter's error is the larger of the two checks.
    """
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    if loss is None and loss_and_grads is model.loss_and_grads:
        loss = model.loss
    loss_and_grads({k: v * 1.5 for k, v in params.items()}, **batch)  # the trap for a stale cache
    report = _errors(params, batch, loss_and_grads, loss, lambda f, x: numerical_grad(f, x, h), RESOLUTION_FLOOR)
    steep = {**params, "Why": params["Why"] * STEEP}
    steep_report = _errors(steep, batch, loss_and_grads, loss, lambda f, x: extrapolated_grad(f, x, STEEP_STEP),
                           RESOLUTION_FLOOR * STEEP)  # a loss STEEP times larger: as much more round-off
    return {name: max(error, steep_report[name]) for name, error in report.items()}


def padding_error(params: dict[str, np.ndarray], batch: dict, loss_and_grads: LossAndGrads = model.loss_and_grads
                  ) -> float:
    """rel_error between the padded batch's loss and that of its sentences each alone, without
    padding (the mean over tokens, so their losses weighted by length). Padding that leaks into
    the real tokens' states changes the loss, and a forward and backward that leak alike match
    each other's finite differences: only the loss itself shows it."""
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    lengths = np.asarray(batch["mask"]).sum(axis=1)
    alone = 0.0
    for i, length in enumerate(lengths.tolist()):
        sentence = {key: (value[i : i + 1, :length] if key != "features"
                          else {g: ids[i : i + 1, :length] for g, ids in value.items()})
                    for key, value in batch.items()}
        alone += loss_and_grads(params, **sentence)[0] * length
    alone /= lengths.sum()
    together = loss_and_grads(params, **batch)[0]
    error = float(rel_error(np.array(together), np.array(alone), floor=1e-12))
    return error if np.isfinite(error) else 1.0


# On 24 problems (3 cells, 4 shapes, 2 seeds) the clean errors stayed under 3.6e-7, and gradients
# clipped at 5 inside the loss (by global norm, per array or per entry) gave 0.48 or more.
STEEP, STEEP_STEP = 300.0, 1e-4


def _errors(params: dict, batch: dict, loss_and_grads: LossAndGrads, loss, numeric_grad, floor: float
            ) -> dict[str, float]:
    """check_gradients's errors at params; numeric_grad(f, x) differentiates f() by x's entries,
    floor: see rel_error."""
    own_loss, analytic = loss_and_grads(params, **batch)
    if loss is None or loss(params, **batch) != own_loss:
        loss = _own_loss(loss_and_grads)
    report = {}
    for name, value in params.items():
        grad = np.asarray(analytic[name])
        if grad.shape != value.shape:
            report[name] = 1.0
            continue
        numeric = numeric_grad(lambda: loss(params, **batch), value)
        error = float(rel_error(grad, numeric, floor).max())
        report[name] = error if np.isfinite(error) else 1.0  # NaN would lose every comparison, max() included
    return report


def _own_loss(loss_and_grads: LossAndGrads) -> Callable[..., float]:
    return lambda params, **batch: loss_and_grads(params, **batch)[0]
