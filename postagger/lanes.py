"""A second training process for a one-layer bidirectional Elman network.

The two directions are independent from their input pre-activations up to the output layer,
and each time loop is a chain of small products that keeps one core at a fraction of its rate.
LaneWorker runs the right-to-left lane (its input pre-activations, its recurrence and its share
of the output layer, forward and backward) in a second process on the other core while the
caller runs the left-to-right lane, and then applies the optimizer's step to half of the input
tables while the caller updates the rest and makes the next batch. Each part makes the same
calls on the same numbers as model.forward, model.backward and Optimizer.step make in one
process, on one BLAS thread each (BLAS rounds by its thread count), so the weights come out
those of one process on one BLAS thread, bit for bit.

Arrays pass through one block of shared memory, sized for the largest batch; the processes hand
over with two semaphores, five times a batch. This module imports numpy, the standard library,
layers and errors (and, in the worker, the model and the optimizer).
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import signal
import sys
import time
import warnings

import numpy as np

from . import layers
from .errors import LaneWorkerError


_FORWARD, _BACKWARD, _UPDATE, _STOP = 1, 2, 3, 4
_HEADER = 8  # int64: command, T, N, padded positions of lane 1, status, optimizer steps, word types (-1: none)
_MESSAGE = 1024  # bytes for an error raised in the worker
_START_TIMEOUT = 60.0  # seconds for the worker to import numpy and attach
_NAME = "postagger-lane"
_SPIN = 0.005  # seconds a process polls for the other before it sleeps on the semaphore
_SHARED_CORE = 0.0002  # a yield that gives the core away this long: another process runs on it


def worthwhile() -> bool:
    """Whether to train with a LaneWorker by default: on Linux (where it was measured; macOS
    emulates waiting on a semaphore with a timeout by polling) with two cores or more."""
    if not sys.platform.startswith("linux"):
        return False
    return len(os.sched_getaffinity(0)) >= 2


def _layout(capacity: int, hidden: int, n_scores: int, tables: dict, updates: tuple, grad_rows: int, n_groups: int
            ) -> list[tuple[str, tuple, str]]:
    """(name, shape, dtype) of every array in the shared block. x and dx (2*C*H,): the batch's
    (2, T, N, H) in their first 2*T*N*H floats; y and dy: lane 1's scores and their gradient;
    lane 1's weights and their gradients; its padded positions. tables: name -> {slot: shape},
    the input tables ("" for the weights, else an optimizer slot of a table the worker updates);
    updates: those tables, with the step's gradient rows (grad_rows at most) and their spans.
    n_groups: the worker makes lane 1's input pre-activations, from the batch's word types' ids
    in each group, its tokens and lane 1's bias."""
    C, H, K = capacity, hidden, n_scores
    layout = [("x", (2 * C * H,), "f4"), ("dx", (2 * C * H,), "f4"), ("y", (C * K,), "f4"), ("dy", (C * K,), "f4"),
              ("Wh", (H, H), "f4"), ("Wy", (H, K), "f4"), ("dWh", (H, H), "f4"), ("dWy", (H, K), "f4"),
              ("padded", (C,), "i8"), ("header", (_HEADER,), "i8"), ("scalars", (2,), "f8"), ("message", (_MESSAGE,), "u1"),
              ("sync", (2,), "i8")]  # commands sent, commands done
    for name, slots in tables.items():
        layout += [(f"{name}/{slot}" if slot else name, shape, "f4") for slot, shape in slots.items()]
    if updates:
        width = tables[updates[0]][""][1]
        layout += [("grads", (grad_rows, width), "f4"), ("rows", (grad_rows,), "i8"), ("squares", (grad_rows,), "f4"),
                   ("spans", (len(updates), 2), "i8")]
    if n_groups:
        layout += [("ids", (n_groups, C), "i8"), ("tokens", (C,), "i8"), ("bias", (H,), "f4")]
    return layout


def _carve(block, layout: list) -> dict[str, np.ndarray]:
    """The arrays of layout in block (None: only count the bytes, under the name "")."""
    raw = None if block is None else np.frombuffer(block, dtype=np.uint8)
    arrays, start = {}, 0
    for name, shape, dtype in layout:
        start = -(-start // 64) * 64  # each array starts a cache line
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        if raw is not None:
            arrays[name] = raw[start : start + size].view(dtype).reshape(shape)
        start += size
    arrays[""] = start
    return arrays


class _Poller:
    """Polls a counter in shared memory before its process sleeps on a semaphore. Waking a
    process that sleeps costs the waker 30-40 µs here (an interrupt to the other core of a
    virtual machine); posting to one that polls costs nothing. The semaphores still hand over:
    they order the shared memory's reads and writes. Polling stops for a while when a yield
    shows that the core is shared with another busy process: polling would take its turns."""

    def __init__(self):
        self.skip = 0  # waits left without polling

    def wait(self, sync: np.ndarray, index: int, count: int) -> None:
        """Poll until sync[index] reaches count, for up to _SPIN seconds."""
        if self.skip:
            self.skip -= 1
            return
        deadline = time.perf_counter() + _SPIN
        while sync[index] < count:
            before = time.perf_counter()
            if before > deadline:
                return
            os.sched_yield()
            if time.perf_counter() - before > _SHARED_CORE:
                self.skip = 256
                return


def _lanes(shared: dict, name: str, T: int, N: int) -> np.ndarray:
    """x or dx as the batch's (2, T, N, H)."""
    H = shared["Wh"].shape[0]
    return shared[name][: 2 * T * N * H].reshape(2, T, N, H)


def _serve(block, layout: list, updates: tuple, optimizer_spec, arch, go, done, parent: int) -> None:
    """The worker's loop: wait for a command, run it, report."""
    for name in ("SIGINT", "SIGTERM"):  # the caller's to handle (it stops after a batch); this process follows it
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # one core each
    except ImportError:
        pass
    np.seterr(over="ignore", invalid="ignore")  # as the caller's errstate: it reports a diverging loss, once
    shared = _carve(block, layout)
    header, K = shared["header"], shared["Wy"].shape[1]
    if updates:
        from .optim import OPTIMIZERS

        kind, hyperparameters = optimizer_spec
        optimizer = OPTIMIZERS[kind](0.0, **hyperparameters)
        optimizer.state = {key: shared[key] for key in shared if "/" in key}  # the tables' slots
    if arch is not None:
        from . import model

        view = {key: shared[key] for key in map(arch.input_key, arch.groups)}
        view[arch.layer_keys(1, 1)[2]] = shared["bias"]
    done.release()  # ready
    sync, finished, poller = shared["sync"], 0, _Poller()
    while True:
        poller.wait(sync, 0, finished + 1)
        while not go.acquire(timeout=1.0):
            if os.getppid() != parent:  # the caller died without saying stop
                return
        command, T, N, n_padded, _, steps, n_types = (int(v) for v in header[:7])
        if command == _STOP:
            return
        try:
            if command == _FORWARD:
                if n_types >= 0:  # lane 1's inputs, made here
                    inputs = dict(zip(arch.groups, shared["ids"][:, :n_types]))
                    by_type = model.input_preactivations(view, arch, inputs, lane=1)[0]
                    tokens = shared["tokens"][: T * N].reshape(N, T)
                    model.lane_inputs(by_type, tokens, 1, _lanes(shared, "x", T, N)[1], shared["padded"][:n_padded])
                y = shared["y"][: T * N * K].reshape(T * N, K)
                _, cache = layers.rnn_lane_forward(_lanes(shared, "x", T, N)[1], shared["Wh"], shared["Wy"], out=y)
            elif command == _BACKWARD:
                dy = shared["dy"][: T * N * K].reshape(T * N, K)  # in lane 1's time order
                _, shared["dWh"][...], shared["dWy"][...] = layers.rnn_lane_backward(
                    dy, cache, shared["padded"][:n_padded], out=_lanes(shared, "dx", T, N)[1])
            else:
                norm, optimizer.lr = (float(v) for v in shared["scalars"])
                optimizer.steps = steps
                spans = [slice(start, start + count) for start, count in shared["spans"].tolist()]
                grads = {t: layers.RowGrad(shared["rows"][at], shared["grads"][at]) for t, at in zip(updates, spans)}
                squares = {t: shared["squares"][at] for t, at in zip(updates, spans)}
                optimizer.apply({t: shared[t] for t in updates}, grads, squares, norm)
            header[4] = 0
        except Exception as error:  # reported by the caller, which raises it
            text = f"{type(error).__name__}: {error}".encode()[: _MESSAGE - 1]
            shared["message"][: len(text)] = np.frombuffer(text, dtype=np.uint8)
            shared["message"][len(text)] = 0
            header[4] = 1
        finished += 1
        sync[1] = finished
        done.release()


@contextlib.contextmanager
def _signals_held():
    """SIGINT and SIGTERM blocked in this thread: one that comes meanwhile waits, and a process
    started meanwhile inherits them blocked, so that a Ctrl-C during its start-up cannot end it
    with a traceback before it ignores them."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _row_offset(base: np.ndarray, rows: np.ndarray) -> int | None:
    """Where rows, a block of base's rows, starts in base; None if it is not one."""
    if rows.dtype != base.dtype or rows.ndim != 2 or rows.shape[1] != base.shape[1] or not rows.flags.c_contiguous:
        return None
    offset = rows.ctypes.data - base.ctypes.data
    if offset < 0 or offset % base.strides[0] or offset // base.strides[0] + len(rows) > len(base):
        return None
    return offset // base.strides[0]


class LaneWorker:
    """The right-to-left lane in a second process, for batches of up to `capacity` positions
    (T*N) of a network with `hidden` units per direction and `n_scores` output columns.

    A batch goes: inputs() -> fill both lanes -> start_forward -> run lane 0 -> finish_forward
    -> start_backward -> run lane 0 -> finish_backward. Use as a context manager, or close().

    With params and their architecture `arch`, the one-hot input tables move into shared memory
    (params then holds the shared arrays; close() puts them back in their own) and the worker
    makes lane 1's input pre-activations itself (reads_tables; start_forward gets the batch's ids).
    With `updates` (some of those tables) and the training's optimizer, the worker also applies
    the optimizer's step to them (start_update, settle) while the caller updates the rest:
    their optimizer slots move into shared memory too, and model.backward writes the tables'
    gradient rows there (table_grads, up to grad_rows rows)."""

    def __init__(self, capacity: int, hidden: int, n_scores: int, params: dict | None = None, optimizer=None,
                 arch=None, updates: tuple[str, ...] = (), grad_rows: int = 0):
        from .optim import OPTIMIZERS

        self.reads_tables = arch is not None
        updates = tuple(updates) if optimizer is not None and arch is not None else ()
        keys = [arch.input_key(g) for g in arch.groups] if arch is not None else []
        slots = {key: {"": params[key].shape, **(optimizer.table_slots(params[key].shape) if key in updates else {})}
                 for key in keys}
        layout = _layout(capacity, hidden, n_scores, slots, updates, grad_rows, len(keys))
        spec = None
        if updates:
            spec = next(k for k, c in OPTIMIZERS.items() if type(optimizer) is c), optimizer.hyperparameters()
        context = multiprocessing.get_context("spawn")  # fork would copy the caller's threads and locks
        self._block = context.RawArray("b", _carve(None, layout)[""])
        self._shared = _carve(self._block, layout)
        self._go, self._done = context.Semaphore(0), context.Semaphore(0)
        self._process = context.Process(
            target=_serve, args=(self._block, layout, updates, spec, arch, self._go, self._done, os.getpid()),
            daemon=True, name=_NAME,
        )
        with _signals_held():  # the worker is born with them blocked, and ignores them: its caller's to handle
            self._process.start()
        # At exit Python joins its child processes after sending them SIGTERM, which the worker
        # ignores: a worker left unclosed by a Ctrl-C between here and the caller's `with` would
        # hang the exit, so it is killed first (exit functions run last registered, first).
        self._kill_at_exit = self._process.kill
        atexit.register(self._kill_at_exit)
        self.batch = 0  # batches started: a cache of an earlier one is stale
        self._pending = None  # the command the worker is running
        self._sent, self._poller = 0, _Poller()  # commands sent
        self._params, self._optimizer, self._updates, self._private = params, optimizer, updates, {}
        try:
            layers._csc_kernel()  # scipy's import, which the first batch would wait for, while the worker starts
            self._wait(_START_TIMEOUT)
        except LaneWorkerError:
            raise LaneWorkerError(f"the second process did not start (exit code {self._process.exitcode})") from None
        except BaseException:  # Ctrl-C: no close() follows
            self._process.kill()
            self._process.join()
            atexit.unregister(self._kill_at_exit)
            raise
        for t in keys:  # into shared memory, kept where they were
            for slot in slots[t]:
                key, owner = (t, params) if not slot else (f"{t}/{slot}", optimizer.state)
                if key in owner:
                    self._shared[key][...] = owner[key]
                self._private[key] = owner.get(key)
                owner[key] = self._shared[key]

    def fits(self, T: int, N: int) -> bool:
        """Whether a batch of N sentences of T steps fits the shared arrays."""
        return T * N <= len(self._shared["padded"])

    def inputs(self, T: int, N: int) -> np.ndarray:
        """The shared (2, T, N, H) array for the batch's pre-activations, which become its states."""
        return _lanes(self._shared, "x", T, N)

    def gradients(self, T: int, N: int) -> np.ndarray:
        """The shared (2, T, N, H) array that receives the pre-activations' gradient."""
        return _lanes(self._shared, "dx", T, N)

    def table_grads(self, n_rows: int, width: int) -> np.ndarray | None:
        """The shared (n_rows, width) array for the input tables' gradient rows, when the worker
        updates tables and they fit; None otherwise. Valid until the next batch."""
        grads = self._shared.get("grads")
        if grads is None or n_rows > len(grads) or width != grads.shape[1]:
            return None
        return grads[:n_rows]

    def start_forward(self, T: int, N: int, Wh: np.ndarray, Wy: np.ndarray, padded: np.ndarray, inputs=None,
                      tokens: np.ndarray | None = None, bias: np.ndarray | None = None) -> int:
        """Lane 1 starts: Wh (H, H) its recurrent weights, Wy (H, K) its rows of the output
        weights, padded its padded positions in (T*N). Its inputs are inputs()[1], or, when
        reads_tables, made by the worker from inputs (each group's ids of the batch's U word
        types, in the groups' order), tokens (N, T) and bias (H,). Returns the batch's number."""
        self.settle()  # before anything is written: the worker may not have read its last command yet
        shared = self._shared
        shared["Wh"][...], shared["Wy"][...] = Wh, Wy
        shared["padded"][: len(padded)] = padded
        n_types = -1
        if inputs is not None:
            n_types = len(inputs[0])
            for row, ids in zip(shared["ids"], inputs):
                row[:n_types] = ids
            shared["tokens"][: T * N] = tokens.reshape(-1)
            shared["bias"][...] = bias
        shared["header"][:4], shared["header"][6] = (_FORWARD, T, N, len(padded)), n_types
        self.batch += 1
        self._send(_FORWARD)
        return self.batch

    def finish_forward(self) -> np.ndarray:
        """Lane 1's share of the scores, (T*N, K) in its time order (right to left)."""
        self._wait()
        T, N = (int(v) for v in self._shared["header"][1:3])
        return self._shared["y"][: T * N * self._shared["Wy"].shape[1]].reshape(T * N, -1)

    def start_backward(self, batch: int, dscores: np.ndarray) -> None:
        """dscores (T*N, K): the gradient of the batch's scores, in natural time order (lane 1
        gets them reversed)."""
        if batch != self.batch or self._pending is not None:
            raise LaneWorkerError("backward of a batch whose forward the lane worker no longer holds")
        T, N = (int(v) for v in self._shared["header"][1:3])
        flipped = dscores.reshape(T, N, -1)[::-1]  # lane 1's time order, in the one copy it needs anyway
        self._shared["dy"][: dscores.size].reshape(flipped.shape)[...] = flipped
        self._shared["header"][0] = _BACKWARD
        self._send(_BACKWARD)

    def finish_backward(self) -> tuple[np.ndarray, np.ndarray]:
        """Lane 1's dWh (H, H) and dWy (H, K); its dx is in gradients()[1]."""
        self._wait()
        return self._shared["dWh"].copy(), self._shared["dWy"].copy()

    def start_update(self, optimizer, grads: dict, grad_squares: dict, norm: float) -> tuple[str, ...]:
        """Start optimizer.apply on the worker's tables, whose gradients are RowGrads in
        table_grads(); optimizer has counted the step. Returns the tables the worker updates:
        none when it has none or their gradients are elsewhere (the caller then updates them).
        settle() waits for the update; so does the next command."""
        self.settle()
        shared = self._shared
        if not self._updates or optimizer is not self._optimizer:
            return ()
        spans = []
        for t in self._updates:
            grad = grads.get(t)
            start = _row_offset(shared["grads"], grad.values) if isinstance(grad, layers.RowGrad) else None
            if start is None:
                return ()
            spans.append((start, len(grad.rows)))
        for t, (start, count) in zip(self._updates, spans):
            shared["rows"][start : start + count] = grads[t].rows
            shared["squares"][start : start + count] = grad_squares[t]
        shared["spans"][...] = spans
        shared["scalars"][...] = norm, optimizer.lr
        shared["header"][0], shared["header"][5] = _UPDATE, optimizer.steps
        self._send(_UPDATE)
        return self._updates

    def settle(self) -> None:
        """Wait for the update of start_update, if one is running."""
        if self._pending == _UPDATE:
            self._wait()

    def _send(self, command: int) -> None:
        if self._pending is not None:
            raise LaneWorkerError("the lane worker is still busy")
        self._pending = command
        self._sent += 1
        self._shared["sync"][0] = self._sent
        self._go.release()

    def _wait(self, timeout: float | None = None) -> None:
        self._poller.wait(self._shared["sync"], 1, self._sent)
        waited = 0.0
        while not self._done.acquire(timeout=0.5):
            waited += 0.5
            if not self._process.is_alive() or (timeout is not None and waited >= timeout):
                self.close()
                raise LaneWorkerError(f"the second training process stopped (exit code {self._process.exitcode}); "
                                      "--no-parallel (parallel=False) trains in one")
        self._pending = None
        if self._shared["header"][4]:
            message = bytes(self._shared["message"]).split(b"\0", 1)[0].decode(errors="replace")
            raise LaneWorkerError(f"the second training process failed: {message}")

    def close(self) -> None:
        """Stop the process, and put the tables and their optimizer slots back in private memory
        (the arrays they came from, when there were any)."""
        if self._process.is_alive():
            try:
                self.settle()
            except LaneWorkerError:
                pass
            if self._pending is not None and self._done.acquire(timeout=5.0):  # left running by an error in the caller
                self._pending = None
            if self._pending is None:
                self._shared["header"][0] = _STOP
                self._go.release()
                self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.kill()  # not terminate(): the worker ignores SIGTERM, its caller's to handle
                self._process.join()
        atexit.unregister(self._kill_at_exit)
        for key, private in self._private.items():
            owner = self._optimizer.state if "/" in key else self._params
            if private is None:
                private = self._shared[key].copy()
            else:
                private[...] = self._shared[key]
            owner[key] = private
        self._private = {}

    def __enter__(self) -> "LaneWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_GUARD = "put the script's top-level code under `if __name__ == \"__main__\":`, or train with parallel=False"


def start_worker(capacity: int, hidden: int, n_scores: int, **options) -> LaneWorker | None:
    """A LaneWorker, or None with a warning when the second process cannot start, for example
    when a script that trains lacks the `if __name__ == "__main__":` guard: a spawned process
    runs the script's top-level code again, and ends here. options: see LaneWorker."""
    if multiprocessing.current_process().name == _NAME:  # inside that second run: stop it at once
        raise SystemExit(f"postagger: the second training process ran the script that trains; {_GUARD}")
    try:
        return LaneWorker(capacity, hidden, n_scores, **options)
    except (OSError, LaneWorkerError) as error:
        warnings.warn(f"postagger trains in one process: {error}; in a script, {_GUARD}", RuntimeWarning, stacklevel=2)
        return None
