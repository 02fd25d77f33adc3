"""Optimizers with per-parameter state, updating a flat dict of arrays in place.

Gradient clipping lives here and only here: loss_and_grads always returns the true gradient.
A one-hot input table's gradient may come as a RowGrad: only the rows a batch used. SGD and
Adagrad then give exactly the dense update. Adam becomes "lazy Adam": a row's moments decay only
on steps that use the row, instead of decaying towards zero on every step as dense Adam's do.
This module imports numpy and layers (for RowGrad); Optimizer.step can hand half of the input
tables' updates to a lanes.LaneWorker that the caller passes in.
"""

from __future__ import annotations

import numpy as np

from .layers import RowGrad, add_rows


_row_dots = getattr(np, "vecdot", None) or (lambda a, b: np.einsum("ij,ij->i", a, b))  # vecdot: numpy >= 2, faster


def squares(grad) -> np.ndarray | float:
    """The sum of squares of a gradient: per row for a RowGrad (R,), as one float otherwise."""
    if isinstance(grad, RowGrad):
        return _row_dots(grad.values, grad.values)
    flat = grad.reshape(-1)
    return float(np.dot(flat, flat))


def _values(grad) -> np.ndarray:
    return grad.values if isinstance(grad, RowGrad) else grad


def _scaled(grad, factor: float):
    return RowGrad(grad.rows, grad.values * np.float32(factor)) if isinstance(grad, RowGrad) else grad * np.float32(factor)


def _clipped_past_float32(grads: dict, clip: float) -> tuple[dict, float]:
    """Finite gradients whose squares pass float32's range, clipped to norm clip, and their true
    norm: first scaled by the power of two that brings the largest entry to 1, then by clip over
    that norm (two steps: one factor could fall under float32's normal range and lose digits)."""
    largest = max(float(np.abs(_values(g)).max(initial=0.0)) for g in grads.values())
    scale = 2.0 ** -np.ceil(np.log2(largest))
    scaled = {k: _scaled(g, scale) for k, g in grads.items()}
    norm = global_norm(scaled)
    return {k: _scaled(g, clip / norm) for k, g in scaled.items()}, norm / scale


def global_norm(grads: dict, grad_squares: dict | None = None) -> float:
    """The joint L2 norm of all gradients, from their squares when already computed."""
    grad_squares = grad_squares if grad_squares is not None else {k: squares(g) for k, g in grads.items()}
    # a dense gradient's square is a Python float already; np.sum of one costs 4 µs
    return sum(s if isinstance(s, float) else float(s.sum()) for s in grad_squares.values()) ** 0.5


def clip_by_global_norm(grads: dict, max_norm: float, grad_squares: dict | None = None,
                        norm: float | None = None) -> tuple[dict, float]:
    """Scale all gradients together so that their joint L2 norm is at most max_norm. norm, when
    given, is that of a larger set of gradients that grads is part of."""
    norm = global_norm(grads, grad_squares) if norm is None else norm
    if max_norm <= 0 or norm <= max_norm:
        return grads, norm
    scale = max_norm / (norm + 1e-12)
    scaled = {
        k: RowGrad(g.rows, g.values * scale) if isinstance(g, RowGrad) else g * scale
        for k, g in grads.items()
    }
    return scaled, norm


class Optimizer:
    """step(params, grads) clips, then updates params in place. State is a flat dict of arrays,
    so that it can be saved in a checkpoint next to the weights."""

    def __init__(self, lr: float, clip: float = 0.0):
        self.lr = lr
        self.clip = clip
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict, helper=None, wait: bool = True) -> float:
        """Returns the gradient norm before clipping; raises FloatingPointError, updating nothing,
        when it is not finite. helper: a lanes.LaneWorker that applies the
        step to some of the tables in its own process (see its start_update); with wait=False it
        may still be doing so on return, until helper.settle() (its next batch waits for it)."""
        grad_squares = {k: squares(g) for k, g in grads.items()}  # for the norm, and kept for row-wise Adam
        norm = reported = global_norm(grads, grad_squares)
        if not np.isfinite(norm) and self.clip > 0 and all(np.isfinite(_values(g)).all() for g in grads.values()):
            grads, reported = _clipped_past_float32(grads, self.clip)
            grad_squares = {k: squares(g) for k, g in grads.items()}
            norm = global_norm(grads, grad_squares)
        if not np.isfinite(norm):  # before any weight is touched
            raise FloatingPointError(f"the gradients' norm is {norm}")
        self.steps += 1
        elsewhere = helper.start_update(self, grads, grad_squares, norm) if helper is not None else ()
        self.apply(params, {k: g for k, g in grads.items() if k not in elsewhere} if elsewhere else grads,
                   grad_squares, norm)
        if elsewhere and wait:
            helper.settle()
        return reported

    def apply(self, params: dict[str, np.ndarray], grads: dict, grad_squares: dict, norm: float) -> None:
        """The update of step, after self.steps has counted it: clip grads by the global norm of
        all the step's gradients and update their params in place."""
        clipped, _ = clip_by_global_norm(grads, self.clip, norm=norm)
        if clipped is not grads:
            factor = (self.clip / (norm + 1e-12)) ** 2
            grad_squares = {k: grad_squares[k] * factor for k in grads}
        for name, grad in clipped.items():
            if isinstance(grad, RowGrad):
                self._update(name, params[name], grad.values, grad.rows, grad_squares[name])
            else:
                self._update(name, params[name], grad, slice(None), grad_squares[name])

    def _slot(self, name: str, slot: str, like: np.ndarray) -> np.ndarray:
        key = f"{name}/{slot}"
        if key not in self.state:
            self.state[key] = np.zeros_like(like)
        return self.state[key]

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray, rows, grad_squares) -> None:
        """Update param[rows] from grad; grad_squares: squares(grad), per row for row-sparse grads."""
        raise NotImplementedError

    def table_slots(self, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The state arrays (slot -> shape) kept for a parameter of this shape, updated from
        RowGrads when it is a one-hot input table (row-wise Adam keeps one value per row)."""
        return {}

    def hyperparameters(self) -> dict:
        """What, besides lr, makes another optimizer of this class update as this one does."""
        return {"clip": self.clip}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"steps": np.array(self.steps), **self.state}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps = int(state["steps"])
        self.state = {k: np.array(v) for k, v in state.items() if k != "steps"}


class SGD(Optimizer):
    def _update(self, name, param, grad, rows, grad_squares):
        param[rows] -= self.lr * grad


class Adagrad(Optimizer):
    """As in min-char-rnn: memory += g^2; param -= lr * g / sqrt(memory + eps)."""

    eps = 1e-8

    def table_slots(self, shape):
        return {"memory": shape}

    def _update(self, name, param, grad, rows, grad_squares):
        memory = self._slot(name, "memory", param)
        memory[rows] += grad * grad
        param[rows] -= self.lr * grad / np.sqrt(memory[rows] + self.eps)


class Adam(Optimizer):
    """Adam. A RowGrad table gets lazy Adam: only its rows in the batch are updated. With
    rowwise=True such a table keeps one second moment per row (the mean of g^2 over the row)
    instead of one per entry, as row-wise Adagrad does for large embedding tables: V floats of
    state instead of V*H, and fewer passes over the rows."""

    def __init__(self, lr: float, clip: float = 0.0, beta1=0.9, beta2=0.999, eps=1e-8, rowwise=False):
        super().__init__(lr, clip)
        self.beta1, self.beta2, self.eps, self.rowwise = beta1, beta2, eps, rowwise

    def table_slots(self, shape):
        return {"m": shape, "v_row": shape[:1]} if self.rowwise else {"m": shape, "v": shape}

    def hyperparameters(self):
        return {"clip": self.clip, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps, "rowwise": self.rowwise}

    def _update(self, name, param, grad, rows, grad_squares):
        b1, b2 = self.beta1, self.beta2
        step = float(self.lr * np.sqrt(1 - b2**self.steps) / (1 - b1**self.steps))  # a Python float keeps float32 float32
        dense = isinstance(rows, slice)
        m = self._slot(name, "m", param)
        m_rows = m if dense else m.take(rows, axis=0)  # the method: np.take adds a Python wrapper per call
        m_rows -= grad  # m = b1 * m + (1 - b1) * g, in place
        m_rows *= b1
        m_rows += grad
        if not dense:
            m[rows] = m_rows
        if self.rowwise and not dense:
            v = self._slot(name, "v_row", param[:, 0])
            v_rows = v.take(rows) * b2 + (1 - b2) / grad.shape[1] * grad_squares
            v[rows] = v_rows
            add_rows(param, rows, m_rows, -step / (np.sqrt(v_rows) + self.eps))
            return
        v = self._slot(name, "v", param)
        v_rows = v if dense else v.take(rows, axis=0)
        square = np.square(grad)
        v_rows -= square
        v_rows *= b2
        v_rows += square
        if not dense:
            v[rows] = v_rows
        np.sqrt(v_rows, out=square)
        square += self.eps
        np.divide(m_rows, square, out=square)
        square *= step
        if dense:
            param -= square
        else:
            add_rows(param, rows, square, -1.0)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "adam": Adam}
# the best of the rates tried with the default network on treebank, 10 epochs (dev accuracy):
# adam 4e-3 (96.25 %); adagrad 0.01, 0.02, 0.05, 0.2 (95.89, 96.11, 96.05, 89.54 %);
# sgd 0.1, 0.5, 1, 2, 4 (83.98, 92.67, 94.12, 81.67, 40.63 %)
DEFAULT_LR = {"sgd": 1.0, "adagrad": 0.02, "adam": 4e-3}


def make_optimizer(name: str, lr: float, clip: float = 0.0, **options) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](lr, clip, **options)
