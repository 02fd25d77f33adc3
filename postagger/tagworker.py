"""A second process that tags part of a large job for a tagger loaded from a model folder.

A sentence's tags do not depend on the other sentences of its batch, so a large job splits into
chunks of sentences of similar length: the worker, a separate Python process that loads the same
folder, tags chunks from the long end while the caller tags from the short end, and the answers
are the ones one process gives. The worker starts at the first large job and serves the later
ones; until it has loaded the model, the caller tags alone. It is a new Python that runs
serve() (not multiprocessing, which would run the caller's script again in a script without a
main guard) and talks through its stdin and stdout in pickled messages.

This module imports numpy and the standard library, and, in the worker, the tagger.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from pathlib import Path
from queue import SimpleQueue
from typing import Callable, Iterator, Sequence

import numpy as np

CHUNK = 128  # sentences per message: chunks of similar work, so that the two finish together
OWN = 4  # chunks the caller tags at once while the worker serves (each call has a cost of its own)
MIN_TOKENS = 20_000  # a job this large starts the worker (it takes 0.15 s or so to start)
AHEAD = 2  # chunks sent to the worker before it has answered
CONTENDED = 0.8  # chunks tagged with less of a core than this: another program shares the cores
SHARES = 4  # chunks whose mean share of a core is compared with CONTENDED (one alone is too noisy)
BACK_OFF = 2.0  # seconds the caller then tags alone (two processes and a busy core tag slower than one)


SUPPORTED = os.name == "posix"  # select() on pipes

_LENGTH = struct.Struct("<Q")  # each message: its length, then its pickle
_LOST = (EOFError, OSError, pickle.UnpicklingError)  # the other process has gone


def _write_frame(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)  # a blocking write writes everything
    stream.flush()


def _read_frame(fd: int):
    """One message from a file descriptor; EOFError at the end of the stream."""
    size = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))[0]
    return pickle.loads(_read_exactly(fd, size))


def _read_exactly(fd: int, size: int) -> bytes:
    parts, left = [], size
    while left:
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise EOFError
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def signature(folder: Path) -> list[tuple[str, int, int]]:
    """(name, size, modification time) of a model folder's files: the worker serves only if it
    loaded the files the caller loaded."""
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())


class TagWorker:
    """The worker process of a tagger loaded from `folder` (whose files had `expected` as their
    signature when the caller loaded them)."""

    def __init__(self, folder: Path, expected: list):
        self._expected = expected
        self.ready = False  # the model is loaded and is the caller's
        self.failed: str | None = None  # why the worker no longer serves
        self.answered = 0  # chunks whose tags came from the worker
        self.alone_until = 0.0  # perf_counter time until which the caller tags alone (BACK_OFF)
        self._shares: deque[float] = deque(maxlen=SHARES)  # of a core, in the worker's last chunks
        self._job = 0
        self._process = None
        # this package, not another installed one; the path entry only while it is imported
        start = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
                 f"import postagger.tagworker as w; del sys.path[0]; w.serve({str(folder)!r})")
        try:
            self._process = subprocess.Popen([sys.executable, "-c", start], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, bufsize=0)
        except OSError as error:
            self._fail(f"could not start ({error})")

    # ------------------------------------------------------------ messages

    def _send(self, message) -> None:
        _write_frame(self._process.stdin, message)

    def _receive(self):
        return _read_frame(self._process.stdout.fileno())

    def _has_message(self) -> bool:
        """Whether an answer has begun to arrive (never blocks; frames are read exactly, so
        nothing waits in a buffer)."""
        if self._process is None or self._process.stdout.closed:
            return False
        return bool(select.select([self._process.stdout], [], [], 0)[0])

    def _fail(self, reason: str) -> None:
        if self.failed is None:
            self.failed = reason
            warnings.warn(f"postagger tags in one process: the second process {reason}", RuntimeWarning, stacklevel=4)
        self.close()

    def wait_ready(self) -> bool:
        """Wait until the worker has loaded the model (or failed); whether it serves."""
        self._check_ready(block=True)
        return self.ready

    def _check_ready(self, block: bool = False) -> None:
        """Read the worker's first message if it has come."""
        if self.ready or self.failed or self._process is None or not (block or self._has_message()):
            return
        try:
            first = self._receive()
        except _LOST:
            return self._fail(f"stopped before it was ready (exit code {self._process.poll()})")
        if first[0] != "ready":
            return self._fail(f"could not load the model: {first[1]}")
        if first[1] != self._expected:
            return self._fail("loaded a model folder that has changed since this tagger loaded it")
        self.ready = True

    # ------------------------------------------------------------ a job

    def predict(self, sentences: Sequence[Sequence[str]], tag_here: Callable, batch_size: int | None,
                probabilities: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """(sentence numbers, their tokens' best tag ids end to end, probabilities or None) per
        chunk, in the order chunks finish. tag_here(sentences) tags in this process, yielding
        the same triples with numbers into its own argument."""
        self._check_ready()
        self._job += 1
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        order = np.argsort(lengths, kind="stable")
        chunks = [order[i : i + CHUNK] for i in range(0, len(order), CHUNK)]
        front, back = 0, len(chunks)  # this process takes chunks[front], the worker chunks[back - 1]
        sent: dict[int, np.ndarray] = {}

        def send_more() -> None:
            nonlocal back
            while self.ready and len(sent) < AHEAD and front < back and time.perf_counter() >= self.alone_until:
                back -= 1
                sent[back] = chunks[back]
                try:
                    self._send((self._job, back, [sentences[i] for i in chunks[back].tolist()], batch_size, probabilities))
                except OSError:
                    return self._fail(f"stopped (exit code {self._process.poll()})")

        def answers() -> Iterator[tuple]:
            """The worker's answers that have come."""
            while sent and self.ready and self._has_message():
                try:
                    kind, job, number, *result = self._receive()
                except _LOST:
                    return self._fail(f"stopped (exit code {self._process.poll()})")
                if job != self._job or number not in sent:  # from a job whose caller stopped reading, or taken back
                    continue
                index = sent.pop(number)
                if kind == "error":  # tagged here instead, which raises the error in this process
                    yield from _renumbered(index, tag_here([sentences[i] for i in index.tolist()]))
                else:
                    best, probs, share = result
                    self.answered += 1
                    self._shares.append(share)
                    if len(self._shares) == SHARES and sum(self._shares) < CONTENDED * SHARES:
                        self.alone_until = time.perf_counter() + BACK_OFF
                        self._shares.clear()
                    yield index, best.astype(np.int64), probs  # sent in the smallest type
                send_more()

        send_more()
        while front < back or sent:
            if not self.ready:
                self._check_ready()
                send_more()
            yield from answers()
            if front < back:
                serving = self.failed is None and time.perf_counter() >= self.alone_until  # or will soon
                take = min(OWN, back - front) if serving else back - front
                index = np.concatenate(chunks[front : front + take])
                front += take
            elif sent and not (self.ready and self._has_message()):  # nothing left here: take back the chunk the worker would do last
                index = sent.pop(min(sent))  # chunks go out from the back, so the last sent has the smallest number
            else:
                continue
            yield from _renumbered(index, tag_here([sentences[i] for i in index.tolist()]))

    def close(self) -> None:
        """Stop the worker."""
        self.ready = False
        if self._process is None:
            return
        for stream in (self._process.stdin, self._process.stdout):  # it stops at the end of its input
            try:
                stream.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _renumbered(index: np.ndarray, triples) -> Iterator[tuple]:
    """tag_here's triples with their numbers mapped through index."""
    for local, best, probs in triples:
        yield index[local], best, probs


def serve(folder: str) -> None:
    """The worker: load the tagger, then answer chunks until the input ends. A thread reads the
    input as it comes, so that the caller's writes never wait for this process's answers to be
    read (each side would wait for the other)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller's to handle; it closes this process
    inbox, outbox = sys.stdin.fileno(), sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the caller's channel
    messages: SimpleQueue = SimpleQueue()

    def read_all() -> None:
        try:
            while True:
                messages.put(_read_frame(inbox))
        except _LOST:
            messages.put(None)

    threading.Thread(target=read_all, daemon=True).start()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")  # one core each
    except ImportError:
        pass
    try:
        from .tagger import RNNTagger

        before = signature(Path(folder))
        tagger = RNNTagger.load(folder)
        tagger.parallel = False
        loaded = before if signature(Path(folder)) == before else None  # not changed while loading
    except Exception as error:  # reported by the caller, which tags alone
        _write_frame(outbox, ("failed", f"{type(error).__name__}: {error}"))
        return
    _write_frame(outbox, ("ready", loaded))
    while (message := messages.get()) is not None:
        job, number, sentences, batch_size, probabilities = message
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            tagged = tagger.predict_ids(sentences, batch_size=batch_size, probabilities=probabilities)
            share = (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9)  # of a core
            best = np.concatenate([ids for ids, _ in tagged])
            probs = np.concatenate([p for _, p in tagged]) if probabilities else None
            answer = ("done", job, number, best.astype(np.min_scalar_type(max(int(best.max(initial=0)), 1))), probs, share)
        except Exception as error:
            answer = ("error", job, number, f"{type(error).__name__}: {error}")
        try:
            _write_frame(outbox, answer)
        except _LOST:
            return

