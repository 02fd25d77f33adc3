"""The right-to-left lane in a second process (lanes.LaneWorker) gives exactly the numbers of
one process: scores, gradients and trained weights, bit for bit."""

import contextlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from postagger import gradcheck, lanes, model, optim
from postagger.tagger import RNNTagger
from postagger.train import TrainConfig
from tests.conftest import write_tsv

HIDDEN, TAGS = 6, 5


def _problem(seed: int, seq_len: int = 7, batch: int = 4):
    """A float32 one-layer bidirectional Elman problem with padding: T >= 3, H, V, K different."""
    params, problem = gradcheck.random_problem(seq_len=seq_len, batch=batch, hidden=HIDDEN, vocab=11, tags=TAGS,
                                               groups=2, bidirectional=True, seed=seed)
    assert problem["mask"].sum(axis=1).min() < seq_len
    return {k: v.astype(np.float32) for k, v in params.items()}, problem


@pytest.fixture(scope="module")
def treebank_sample():
    """300 treebank training sentences and 50 dev ones: batches large enough for BLAS to split
    its products between two threads (and so round differently from one)."""
    from postagger import corpora
    from tests.conftest import require_corpus

    require_corpus("treebank")
    return corpora.load_corpus("treebank", split="train")[:300], corpora.load_corpus("treebank", split="dev")[:50]


@pytest.fixture(scope="module")
def worker():
    params, _ = _problem(0)
    with lanes.LaneWorker(capacity=40, hidden=HIDDEN, n_scores=model.score_columns(params)) as running:
        yield running


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_with_the_worker_equal_those_of_one_process(worker, seed):
    params, problem = _problem(seed)
    loss, grads = model.loss_and_grads(params, **problem)
    batches_before = worker.batch
    apart_loss, apart_grads = model.loss_and_grads(params, **problem, lanes=worker)
    assert worker.batch == batches_before + 1  # the worker ran it
    assert apart_loss == loss
    assert list(apart_grads) == list(grads)  # the same order: the global norm sums them in it
    for name in grads:
        assert apart_grads[name].dtype == grads[name].dtype, name
        np.testing.assert_array_equal(apart_grads[name], grads[name], err_msg=name)


def test_a_batch_larger_than_the_shared_arrays_runs_here(worker):
    params, problem = _problem(0, seq_len=9, batch=5)  # 45 positions > capacity 40
    batches_before = worker.batch
    loss, grads = model.loss_and_grads(params, **problem, lanes=worker)
    assert worker.batch == batches_before
    assert loss == model.loss_and_grads(params, **problem)[0]


def test_the_worker_refuses_a_stale_cache(worker):
    params, problem = _problem(0)
    inputs = {"word": problem["words"].reshape(-1), **{g: v.reshape(-1) for g, v in problem["features"].items()}}
    tokens = np.arange(problem["mask"].size).reshape(problem["mask"].shape)
    scores, first = model.forward(params, inputs, tokens, problem["mask"], lanes=worker)
    model.forward(params, inputs, tokens, problem["mask"], lanes=worker)  # the worker now holds this one
    with pytest.raises(lanes.LaneWorkerError, match="no longer holds"):
        model.backward(np.zeros_like(scores), first)


def test_a_stopped_worker_is_reported_not_waited_for():
    params, problem = _problem(0)
    worker = lanes.LaneWorker(capacity=40, hidden=HIDDEN, n_scores=model.score_columns(params))
    worker._process.kill()
    with pytest.raises(lanes.LaneWorkerError, match="stopped"):
        model.loss_and_grads(params, **problem, lanes=worker)
    worker.close()


def test_close_ends_the_process():
    with lanes.LaneWorker(capacity=8, hidden=3, n_scores=16) as worker:
        assert worker._process.is_alive()
    assert not worker._process.is_alive()
    assert worker._process.exitcode == 0


def test_close_ends_the_process_when_the_caller_failed_between_a_command_and_its_answer():
    """The worker ignores SIGTERM (its caller handles it), so close cannot leave it running a
    command and then wait for it to be terminated."""
    import threading

    worker = lanes.LaneWorker(capacity=8, hidden=3, n_scores=16)
    worker.start_forward(2, 2, np.zeros((3, 3), np.float32), np.zeros((3, 16), np.float32), np.zeros(0, np.int64))
    closing = threading.Thread(target=worker.close, daemon=True)  # without finish_forward, as after an error
    closing.start()
    closing.join(timeout=30)
    if closing.is_alive():
        worker._process.kill()
    assert not closing.is_alive() and not worker._process.is_alive() and worker._process.exitcode == 0


def test_a_worker_left_unclosed_does_not_hang_the_exit(tmp_path):
    """A Ctrl-C between the worker's start and the caller's `with` left it unclosed; Python's exit
    then sent it SIGTERM, which it ignores, and waited for it for ever."""
    script = tmp_path / "leave.py"
    script.write_text("from postagger import lanes\n"
                      "if __name__ == '__main__':\n"
                      "    worker = lanes.LaneWorker(capacity=8, hidden=3, n_scores=16)\n"
                      "    print(worker._process.pid, flush=True)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    pid = int(proc.stdout.readline())
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("grad_rows", [200, 3])  # 3: too few for a batch's rows, so the caller updates them all
def test_the_worker_updates_its_tables_as_the_caller_would(grad_rows):
    params, problem = _problem(0)
    tables = ["Wxh", "Wxh_g1"]  # of Wxh, Wxh_g0, Wxh_g1
    finals, updated_here = [], []
    for apart in (False, True):
        trained = {k: v.copy() for k, v in params.items()}
        originals = dict(trained)
        optimizer = optim.make_optimizer("adam", 0.05, clip=0.5, rowwise=True)  # a low clip: steps are clipped
        names = []
        update = optimizer._update
        optimizer._update = lambda name, *rest: (names.append(name), update(name, *rest))
        worker = lanes.LaneWorker(40, HIDDEN, model.score_columns(trained), params=trained, optimizer=optimizer,
                                  arch=model.architecture(trained), updates=tables, grad_rows=grad_rows) if apart else None
        for _ in range(3):
            _, grads = model.loss_and_grads(trained, **problem, sparse=True, lanes=worker)
            optimizer.step(trained, grads, helper=worker)
        if worker is not None:
            assert all(trained[t] is not originals[t] for t in params if t.startswith("Wxh"))  # shared while it runs
            worker.close()
        assert all(trained[k] is originals[k] for k in params)  # then back where they were
        finals.append((trained, optimizer.state_dict()))
        updated_here.append(set(names))
    (one, one_state), (two, two_state) = finals
    for name in params:
        np.testing.assert_array_equal(two[name], one[name], err_msg=name)
    assert set(two_state) == set(one_state)
    for key in one_state:
        np.testing.assert_array_equal(two_state[key], one_state[key], err_msg=key)
    assert updated_here[0] >= set(tables)
    assert (updated_here[1] & set(tables)) == (set() if grad_rows == 200 else set(tables))


@pytest.fixture
def started_workers(monkeypatch):
    """The LaneWorkers trainings start, to check that they did the work (worker.batch)."""
    started = []
    start = lanes.start_worker
    monkeypatch.setattr(lanes, "start_worker", lambda *args, **kwargs: started.append(start(*args, **kwargs)) or started[-1])
    return started


@pytest.mark.parametrize("optimizer", ["adam", "adagrad", "sgd"])
def test_training_in_two_processes_gives_the_same_weights(tiny, optimizer, started_workers):
    config = TrainConfig(epochs=2, hidden=12, batch_size=8, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 4e-3)
    one = RNNTagger(config, parallel=False).fit(tiny[:100], tiny[100:])
    two = RNNTagger(config, parallel=True).fit(tiny[:100], tiny[100:])
    assert [worker.batch for worker in started_workers] == [26]  # 13 batches an epoch, all in two processes
    assert [r.loss for r in two.history_] == [r.loss for r in one.history_]
    for name, value in one.params_.items():
        np.testing.assert_array_equal(two.params_[name], value, err_msg=name)


def test_two_processes_train_as_one_on_one_blas_thread_whatever_the_callers_threads(treebank_sample):
    from threadpoolctl import threadpool_info, threadpool_limits

    train, dev = treebank_sample
    config = TrainConfig(epochs=1, hidden=32)
    with threadpool_limits(limits=1, user_api="blas"):
        one = RNNTagger(config, parallel=False).fit(train, dev)
    with threadpool_limits(limits=2, user_api="blas"):
        two = RNNTagger(config, parallel=True).fit(train, dev)
        assert {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"} == {2}  # given back
    for name, value in one.params_.items():
        np.testing.assert_array_equal(two.params_[name], value, err_msg=name)


def test_networks_the_worker_cannot_run_stay_in_one_process():
    params, _ = _problem(0)
    assert model.runs_apart(params)
    assert not model.runs_apart(params, dropout=0.5)
    assert not model.runs_apart({k: v.astype(np.float64) for k, v in params.items()})
    for shape in (dict(bidirectional=False), dict(bidirectional=True, layers=2), dict(bidirectional=True, cell="gru")):
        other, _ = gradcheck.random_problem(**shape)
        assert not model.runs_apart({k: v.astype(np.float32) for k, v in other.items()}), shape


def test_a_diverging_loss_in_two_processes_is_one_line(tmp_path, tiny):
    import os
    import subprocess
    import sys

    path = tmp_path / "train.tsv"
    write_tsv(path, tiny)
    command = [sys.executable, "-m", "postagger", "train", "--train-file", str(path), "--hidden", "8", "--epochs", "2",
               "--lr", "1e38", "--parallel", "--quiet", "--out", str(tmp_path / "m")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert result.returncode == 1
    assert result.stderr.startswith("error: training stopped: ") and result.stderr.count("\n") == 1, result.stderr


def test_a_script_without_the_main_guard_trains_in_one_process_with_a_warning(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "train_unguarded.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})\n"
        "from postagger.tagger import RNNTagger\n"
        "from postagger.train import TrainConfig\n"
        "sentences = [[('The', 'DT'), ('cat', 'NN'), ('sat', 'VBD')], [('A', 'DT'), ('dog', 'NN'), ('ran', 'VBD'), ('.', '.')]]\n"
        "tagger = RNNTagger(TrainConfig(epochs=1, hidden=4), parallel=True).fit(sentences * 10)\n"
        "print('trained', len(tagger.history_))\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "trained 1"
    assert "trains in one process: the second process did not start" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("stop_after", [1, 7, 15])  # 13 batches an epoch: mid-epoch and into the next
def test_stopped_and_resumed_in_two_processes_ends_as_one_process_does(tmp_path, tiny, stop_after, started_workers):
    from tests.test_resume import StopAfter

    config = TrainConfig(epochs=2, hidden=12, batch_size=8, seed=3)
    train, dev = tiny[:100], tiny[100:]
    full = RNNTagger(config, parallel=False).fit(train, dev)
    one = RNNTagger(config, parallel=False).fit(train, dev, callback=StopAfter(stop_after))
    two = RNNTagger(config, parallel=True).fit(train, dev, callback=StopAfter(stop_after))
    assert not two.state_.finished
    assert len(two.state_.optimizer) > 1 and two.state_.optimizer.keys() == one.state_.optimizer.keys()
    for key, value in one.state_.optimizer.items():  # what a checkpoint saves
        np.testing.assert_array_equal(two.state_.optimizer[key], value, err_msg=key)
    two.save_checkpoint(tmp_path / "checkpoint", corpus="tiny")
    tagger, state = RNNTagger.load_checkpoint(tmp_path / "checkpoint")
    tagger.parallel = True
    resumed = tagger.fit(train, dev, resume=state)
    assert [worker.batch for worker in started_workers] == [stop_after, 26 - stop_after]  # both parts in two processes
    assert [r.loss for r in resumed.history_] == [r.loss for r in full.history_]
    for name in full.params_:
        np.testing.assert_array_equal(resumed.state_.params[name], full.state_.params[name], err_msg=name)


def test_the_cli_says_in_one_line_when_parallel_cannot_serve_the_network(tmp_path, tiny):
    from typer.testing import CliRunner

    from postagger.cli import app

    path = tmp_path / "train.tsv"
    write_tsv(path, tiny[:40])
    result = CliRunner().invoke(app, ["train", "--train-file", str(path), "--cell", "lstm", "--hidden", "4",
                                      "--epochs", "1", "--parallel", "--quiet", "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "warning: training in one process: the second one serves one-layer bidirectional " \
                            "Elman networks without dropout\n"


def test_the_poller_stops_polling_for_a_while_when_its_core_is_shared(monkeypatch):
    import time

    sync = np.zeros(2, dtype=np.int64)
    poller = lanes._Poller()
    sync[0] = 1
    poller.wait(sync, 0, 1)  # already there
    assert poller.skip == 0
    monkeypatch.setattr(lanes.os, "sched_yield", lambda: time.sleep(0.001))  # another process takes the core
    started = time.perf_counter()
    poller.wait(sync, 1, 1)  # never arrives
    assert time.perf_counter() - started < 0.004 and poller.skip == 256
    poller.wait(sync, 1, 1)
    assert poller.skip == 255  # no polling: straight to the semaphore


def test_a_callback_sees_each_step_done_in_both_processes(tiny, monkeypatch):
    from postagger.train import Callback

    made, init_params = [], model.init_params  # the dict of weights each training updates in place
    monkeypatch.setattr(model, "init_params", lambda *args, **kwargs: made.append(init_params(*args, **kwargs)) or made[-1])

    class TableSums(Callback):  # reads the input tables after every batch
        seen: list

        def on_epoch_start(self, epoch, n_batches):
            self.params, self.seen = made[-1], []

        def on_batch(self, epoch, batch, loss, tokens):
            self.seen.append([float(self.params[k].sum()) for k in sorted(self.params) if k.startswith("Wxh")])

    runs = []
    for parallel in (False, True):
        callback = TableSums()
        RNNTagger(TrainConfig(epochs=1, hidden=12, batch_size=8), parallel=parallel).fit(tiny[:100], callback=callback)
        runs.append(callback.seen)
    assert len(runs[0]) > 5 and runs[1] == runs[0]
