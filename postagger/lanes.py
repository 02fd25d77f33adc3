"""A second process for the right-to-left lane of a one-layer bidirectional Elman network.

The two directions are independent from their input pre-activations up to the output layer,
and each time loop is a chain of small products that keeps one core at a fraction of its rate.
LaneWorker runs the right-to-left lane (its recurrence and its share of the output layer,
forward and backward) in a second process on the other core while the caller runs the
left-to-right lane. Each lane makes the same calls on the same numbers
as model.forward and backward make in one process (layers.rnn_lane_forward and backward), so
the weights come out the same bit for bit.

Arrays pass through one block of shared memory, sized for the largest batch; the processes hand
over with two semaphores, four times a batch. This module imports numpy and the standard library.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings

import numpy as np

from . import layers
from .errors import PostaggerError


class LaneWorkerError(PostaggerError):
    """The second process failed or stopped."""

_FORWARD, _BACKWARD, _STOP = 1, 2, 3
_HEADER = 8  # int64: command, T, N, padded positions of lane 1, status
_MESSAGE = 1024  # bytes for an error raised in the worker
_START_TIMEOUT = 60.0  # seconds for the worker to import numpy and attach
_NAME = "postagger-lane"


def worthwhile() -> bool:
    """Whether to train with a LaneWorker by default: on Linux (where it was measured; macOS
    emulates waiting on a semaphore with a timeout by polling) with two cores or more."""
    if not sys.platform.startswith("linux"):
        return False
    return len(os.sched_getaffinity(0)) >= 2


class _Buffers:
    """Views of the shared block: x and dx (2, C*H) (the batch's (2, T, N, H) in their first
    2*T*N*H floats), the scores y and their gradient dy (C, K), lane 1's weights and their
    gradients, its padded positions, the header and the error message."""

    def __init__(self, block, capacity: int, hidden: int, n_scores: int):
        C, H, K = capacity, hidden, n_scores
        self.capacity, self.hidden, self.n_scores = C, H, K
        sizes = {"x": 2 * C * H, "dx": 2 * C * H, "y": C * K, "dy": C * K, "Wh": H * H, "Wy": H * K,
                 "dWh": H * H, "dWy": H * K}
        raw = np.frombuffer(block, dtype=np.uint8)
        start = 0
        for name, size in sizes.items():
            setattr(self, name, raw[start : start + 4 * size].view(np.float32))
            start += 4 * size
        self.padded = raw[start : start + 8 * C].view(np.int64)
        self.header = raw[start + 8 * C : start + 8 * (C + _HEADER)].view(np.int64)
        self.message = raw[start + 8 * (C + _HEADER) :]
        self.Wh, self.dWh = self.Wh.reshape(H, H), self.dWh.reshape(H, H)
        self.Wy, self.dWy = self.Wy.reshape(H, K), self.dWy.reshape(H, K)

    @staticmethod
    def nbytes(capacity: int, hidden: int, n_scores: int) -> int:
        C, H, K = capacity, hidden, n_scores
        return 4 * (4 * C * H + 2 * C * K + 2 * H * H + 2 * H * K) + 8 * (C + _HEADER) + _MESSAGE

    def lanes(self, name: str, T: int, N: int) -> np.ndarray:
        """x or dx as the batch's (2, T, N, H)."""
        return getattr(self, name)[: 2 * T * N * self.hidden].reshape(2, T, N, self.hidden)


def _serve(block, capacity: int, hidden: int, n_scores: int, go, done, parent: int) -> None:
    """The worker's loop: wait for a command, run lane 1, report."""
    for name in ("SIGINT", "SIGTERM"):  # the caller's to handle (it stops after a batch); this process follows it
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # one core each
    except ImportError:
        pass
    shared = _Buffers(block, capacity, hidden, n_scores)
    done.release()  # ready
    while True:
        while not go.acquire(timeout=1.0):
            if os.getppid() != parent:  # the caller died without saying stop
                return
        command, T, N, n_padded = (int(v) for v in shared.header[:4])
        if command == _STOP:
            return
        try:
            if command == _FORWARD:
                y = shared.y[: T * N * n_scores].reshape(T * N, n_scores)
                _, cache = layers.rnn_lane_forward(shared.lanes("x", T, N)[1], shared.Wh, shared.Wy, out=y)
            else:
                dy = shared.dy[: T * N * n_scores].reshape(T * N, n_scores)  # in lane 1's time order
                _, shared.dWh[...], shared.dWy[...] = layers.rnn_lane_backward(
                    dy, cache, shared.padded[:n_padded], out=shared.lanes("dx", T, N)[1])
            shared.header[4] = 0
        except Exception as error:  # reported by the caller, which raises it
            text = f"{type(error).__name__}: {error}".encode()[: _MESSAGE - 1]
            shared.message[: len(text)] = np.frombuffer(text, dtype=np.uint8)
            shared.message[len(text)] = 0
            shared.header[4] = 1
        done.release()


class LaneWorker:
    """The right-to-left lane in a second process, for batches of up to `capacity` positions
    (T*N) of a network with `hidden` units per direction and `n_scores` output columns.

    A batch goes: inputs() -> fill both lanes -> start_forward -> run lane 0 -> finish_forward
    -> start_backward -> run lane 0 -> finish_backward. Use as a context manager, or close()."""

    def __init__(self, capacity: int, hidden: int, n_scores: int):
        context = multiprocessing.get_context("spawn")  # fork would copy the caller's threads and locks
        self._block = context.RawArray("b", _Buffers.nbytes(capacity, hidden, n_scores))
        self._shared = _Buffers(self._block, capacity, hidden, n_scores)
        self._go, self._done = context.Semaphore(0), context.Semaphore(0)
        self._process = context.Process(
            target=_serve, args=(self._block, capacity, hidden, n_scores, self._go, self._done, os.getpid()),
            daemon=True, name=_NAME,
        )
        self._process.start()
        self.batch = 0  # batches started: a cache of an earlier one is stale
        self._pending = None  # the command the worker is running
        try:
            self._wait(_START_TIMEOUT)
        except LaneWorkerError:
            raise LaneWorkerError(f"the second process did not start (exit code {self._process.exitcode})") from None

    def fits(self, T: int, N: int) -> bool:
        """Whether a batch of N sentences of T steps fits the shared arrays."""
        return T * N <= self._shared.capacity

    def inputs(self, T: int, N: int) -> np.ndarray:
        """The shared (2, T, N, H) array for the batch's pre-activations, which become its states."""
        return self._shared.lanes("x", T, N)

    def gradients(self, T: int, N: int) -> np.ndarray:
        """The shared (2, T, N, H) array that receives the pre-activations' gradient."""
        return self._shared.lanes("dx", T, N)

    def start_forward(self, T: int, N: int, Wh: np.ndarray, Wy: np.ndarray, padded: np.ndarray) -> int:
        """Lane 1 starts on inputs()[1]: Wh (H, H) its recurrent weights, Wy (H, K) its rows of the
        output weights, padded its padded positions in (T*N). Returns the batch's number."""
        shared = self._shared
        shared.Wh[...], shared.Wy[...] = Wh, Wy
        shared.padded[: len(padded)] = padded
        shared.header[:4] = (_FORWARD, T, N, len(padded))
        self.batch += 1
        self._send(_FORWARD)
        return self.batch

    def finish_forward(self) -> np.ndarray:
        """Lane 1's share of the scores, (T*N, K) in its time order (right to left)."""
        self._wait()
        T, N = (int(v) for v in self._shared.header[1:3])
        return self._shared.y[: T * N * self._shared.n_scores].reshape(T * N, -1)

    def start_backward(self, batch: int, dscores: np.ndarray) -> None:
        """dscores (T*N, K): the gradient of the batch's scores, in natural time order (lane 1
        gets them reversed)."""
        if batch != self.batch or self._pending is not None:
            raise LaneWorkerError("backward of a batch whose forward the lane worker no longer holds")
        T, N = (int(v) for v in self._shared.header[1:3])
        flipped = dscores.reshape(T, N, -1)[::-1]  # lane 1's time order, in the one copy it needs anyway
        self._shared.dy[: dscores.size].reshape(flipped.shape)[...] = flipped
        self._shared.header[0] = _BACKWARD
        self._send(_BACKWARD)

    def finish_backward(self) -> tuple[np.ndarray, np.ndarray]:
        """Lane 1's dWh (H, H) and dWy (H, K); its dx is in gradients()[1]."""
        self._wait()
        return self._shared.dWh.copy(), self._shared.dWy.copy()

    def _send(self, command: int) -> None:
        if self._pending is not None:
            raise LaneWorkerError("the lane worker is still busy")
        self._pending = command
        self._go.release()

    def _wait(self, timeout: float | None = None) -> None:
        waited = 0.0
        while not self._done.acquire(timeout=0.5):
            waited += 0.5
            if not self._process.is_alive() or (timeout is not None and waited >= timeout):
                self.close()
                raise LaneWorkerError(f"the second training process stopped (exit code {self._process.exitcode}); "
                                      "--no-parallel (parallel=False) trains in one")
        self._pending = None
        if self._shared.header[4]:
            message = bytes(self._shared.message).split(b"\0", 1)[0].decode(errors="replace")
            raise LaneWorkerError(f"the second training process failed: {message}")

    def close(self) -> None:
        if self._process.is_alive():
            if self._pending is None:
                self._shared.header[0] = _STOP
                self._go.release()
                self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()

    def __enter__(self) -> "LaneWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_GUARD = "put the script's top-level code under `if __name__ == \"__main__\":`, or train with parallel=False"


def start_worker(capacity: int, hidden: int, n_scores: int) -> LaneWorker | None:
    """A LaneWorker, or None with a warning when the second process cannot start, for example
    when a script that trains lacks the `if __name__ == "__main__":` guard: a spawned process
    runs the script's top-level code again, and ends here."""
    if multiprocessing.current_process().name == _NAME:  # inside that second run: stop it at once
        raise SystemExit(f"postagger: the second training process ran the script that trains; {_GUARD}")
    try:
        return LaneWorker(capacity, hidden, n_scores)
    except (OSError, LaneWorkerError) as error:
        warnings.warn(f"postagger trains in one process: {error}; in a script, {_GUARD}", RuntimeWarning, stacklevel=2)
        return None
