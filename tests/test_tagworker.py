"""Tagging a large job in two processes (tagworker): the same tags and probabilities as one
process, whatever happens to the second."""

import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from postagger import corpora, tagworker
from postagger.tagger import RNNTagger


@pytest.fixture
def small_chunks(monkeypatch):
    """Jobs of 1,000 tokens and more use the worker, in chunks of 16 sentences; this process
    takes 10 ms more for each of its pieces, so that the worker answers some chunks however
    busy the machine is (it would otherwise take them back)."""
    monkeypatch.setattr(tagworker, "MIN_TOKENS", 1000)
    monkeypatch.setattr(tagworker, "CHUNK", 16)
    here = RNNTagger._predict_here

    def slower(self, *args, **kwargs):
        time.sleep(0.01)
        return here(self, *args, **kwargs)

    monkeypatch.setattr(RNNTagger, "_predict_here", slower)


@pytest.fixture(scope="module")
def job():
    return [[w for w, _ in s] for s in corpora.load_corpus("treebank", "native", "test")]


def one_process(folder, sentences):
    alone = RNNTagger.load(folder)
    alone.parallel = False
    return alone.predict_ids(sentences)


def served(folder) -> RNNTagger:
    """A tagger whose worker has started (by a first large job) and loaded the model."""
    tagger = RNNTagger.load(folder)
    tagger.parallel = True
    tagger.predict_ids([["A", "first", "job", "."]] * 300, probabilities=False)
    assert tagger._worker.wait_ready()
    return tagger


def assert_same(expected, got):
    assert len(expected) == len(got)
    for (ids_a, p_a), (ids_b, p_b) in zip(expected, got):
        assert ids_a.dtype == ids_b.dtype
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(p_a, p_b)


def test_a_large_job_in_two_processes_equals_one_process(treebank_model, job, small_chunks):
    folder, _ = treebank_model
    tagger = served(folder)
    before = tagger._worker.answered
    assert_same(one_process(folder, job), tagger.predict_ids(job))
    assert tagger._worker.answered > before  # the worker did tag part of it
    assert tagger.tag_sents(job) == one_tag_sents(folder, job)
    tagger.close()


def one_tag_sents(folder, sentences):
    alone = RNNTagger.load(folder)
    alone.parallel = False
    return alone.tag_sents(sentences)


def test_small_jobs_fitted_taggers_and_parallel_off_stay_in_one_process(treebank_model, job, small_chunks, tiny):
    folder, _ = treebank_model
    tagger = RNNTagger.load(folder)
    tagger.parallel = True
    tagger.predict_ids(job[:20])  # under 1,000 tokens
    assert getattr(tagger, "_worker", None) is None
    tagger.parallel = False
    tagger.predict_ids(job)
    assert getattr(tagger, "_worker", None) is None
    fitted = RNNTagger(tagger.config.__class__(hidden=8, epochs=1, features=()), parallel=True).fit(tiny)
    fitted.predict_ids([[w for w, _ in s] for s in tiny] * 3)
    assert getattr(fitted, "_worker", None) is None


def test_a_worker_killed_mid_job_leaves_the_rest_to_the_caller(treebank_model, job, small_chunks):
    folder, _ = treebank_model
    expected = one_process(folder, job)
    tagger = served(folder)
    worker = tagger._worker
    got = [None] * len(job)
    with pytest.warns(RuntimeWarning, match="tags in one process: the second process stopped"):
        for n, (index, best, probs) in enumerate(tagger._predict_batches(job, None, True)):
            if n == 0:
                worker._process.kill()
                worker._process.wait()
            stop = 0
            for i in index.tolist():
                got[i] = (best[stop : stop + len(job[i])], probs[stop : stop + len(job[i])])
                stop += len(job[i])
    assert_same(expected, got)
    assert worker.failed and tagger._tag_worker(job) is None  # later jobs stay here
    assert_same(expected, tagger.predict_ids(job))


def test_an_abandoned_job_does_not_mix_its_answers_into_the_next(treebank_model, job, small_chunks):
    folder, _ = treebank_model
    tagger = served(folder)
    unread = tagger._predict_batches(job, None, True)
    next(unread)
    next(unread)  # chunks are at the worker now
    del unread
    gc.collect()
    answered = tagger._worker.answered
    assert_same(one_process(folder, job), tagger.predict_ids(job))
    assert tagger._worker.answered > answered
    tagger.close()


def test_a_model_folder_changed_since_loading_is_not_served(treebank_model, job, small_chunks, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(treebank_model[0], folder)
    tagger = RNNTagger.load(folder)
    tagger.parallel = True
    weights = folder / "weights.npz"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    tagger.predict_ids(job)  # starts the worker
    with pytest.warns(RuntimeWarning, match="changed since this tagger loaded it"):
        assert not tagger._worker.wait_ready()
    assert_same(one_process(folder, job), tagger.predict_ids(job))


def test_close_and_garbage_collection_end_the_worker(treebank_model, small_chunks):
    folder, _ = treebank_model
    tagger = served(folder)
    process = tagger._worker._process
    tagger.close()
    assert process.poll() is not None
    tagger = served(folder)
    process = tagger._worker._process
    del tagger
    gc.collect()
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is not None


def test_a_script_without_a_main_guard_runs_once(treebank_model, job, tmp_path):
    """The worker is `python -m postagger.tagworker`, so a script that tags a large job at its
    top level is not run a second time (as a spawned multiprocessing process would run it)."""
    folder, _ = treebank_model
    script = tmp_path / "tag_large.py"
    script.write_text(textwrap.dedent(f"""
        from postagger import corpora
        from postagger.tagger import RNNTagger
        print("top level")
        words = [[w for w, _ in s] for s in corpora.load_corpus("treebank", "native", "test")] * 3
        tagger = RNNTagger.load({str(folder)!r})
        tagger.parallel = True
        tagger.tag_sents(words)  # over 20,000 tokens: starts the worker
        print(tagger._worker.wait_ready(), sum(t == "NN" for s in tagger.tag_sents(words) for _, t in s))
    """))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    nouns = sum(t == "NN" for s in one_tag_sents(folder, job) for _, t in s) * 3
    assert result.stdout.split("\n") == ["top level", f"True {nouns}", ""]
    assert result.stderr == ""


def test_a_stalled_worker_never_holds_up_a_job(treebank_model, job, small_chunks):
    """A worker that stops answering (SIGSTOP): the caller takes its chunks back and finishes;
    once it answers again, its late answers are dropped and it serves the next job."""
    folder, _ = treebank_model
    expected = one_process(folder, job)
    tagger = served(folder)
    worker = tagger._worker
    os.kill(worker._process.pid, signal.SIGSTOP)
    try:
        answered = worker.answered
        assert_same(expected, tagger.predict_ids(job))
        assert worker.answered == answered and worker.failed is None
    finally:
        os.kill(worker._process.pid, signal.SIGCONT)
    assert_same(expected, tagger.predict_ids(job))
    assert worker.answered > answered
    tagger.close()


@pytest.mark.parametrize("contended", [False, True])
def test_the_caller_tags_alone_for_a_while_when_the_worker_gets_less_than_a_core(treebank_model, job, small_chunks,
                                                                               monkeypatch, contended):
    """The worker reports the share of a core it had for each chunk. When the mean of SHARES
    chunks is below CONTENDED (here: any share, or none), the caller stops sending chunks for
    BACK_OFF seconds."""
    folder, _ = treebank_model
    monkeypatch.setattr(tagworker, "CONTENDED", 2.0 if contended else 0.0)
    monkeypatch.setattr(tagworker, "BACK_OFF", 60.0)
    monkeypatch.setattr(tagworker, "SHARES", 1)
    expected = one_process(folder, job)
    tagger = served(folder)
    worker = tagger._worker
    worker.alone_until = 0.0  # whatever the first job showed
    answered = worker.answered
    assert_same(expected, tagger.predict_ids(job))
    if contended:
        assert 1 <= worker.answered - answered <= tagworker.AHEAD  # those sent before the first answer came
        assert_same(expected, tagger.predict_ids(job))  # within BACK_OFF: all here
        assert worker.answered - answered <= tagworker.AHEAD
    else:
        assert worker.answered - answered > tagworker.AHEAD and worker.alone_until == 0.0
    tagger.close()


def test_cli_tag_and_evaluate_give_the_same_output_with_and_without_the_second_process(treebank_model, job, tmp_path):
    from typer.testing import CliRunner

    from postagger.cli import app

    folder, _ = treebank_model
    text = tmp_path / "large.txt"
    text.write_text("".join(" ".join(s) + "\n" for s in job * 3))  # over 20,000 tokens in one chunk of lines
    runner = CliRunner()
    outputs = []
    for mode in ("--parallel", "--no-parallel"):
        result = runner.invoke(app, ["tag", "--model", str(folder), "--pretokenized", "--probs", "--format", "tsv",
                                     "-q", mode, "--input", str(text)])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") > 27_000
    scores = [runner.invoke(app, ["evaluate", "--model", str(folder), "--split", "train", "--json", "-q", mode]).stdout
              for mode in ("--parallel", "--no-parallel")]
    assert scores[0] == scores[1] and '"accuracy"' in scores[0]
