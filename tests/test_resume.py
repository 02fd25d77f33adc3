"""Nothing lost: interrupted training resumes to the very weights of an uninterrupted run, and a
diverging run leaves the saved model alone."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from postagger.cli import app
from postagger.tagger import RNNTagger
from postagger.train import Callback, TrainConfig
from tests.conftest import require_corpus, tiny_corpus, write_tsv

CONFIG = dict(hidden=12, epochs=3, batch_size=8, dropout=0.2, features=("suf2", "shape"), seed=5)


class StopAfter(Callback):
    def __init__(self, batches):
        self.left = batches

    def on_batch(self, epoch, batch, loss, tokens):
        self.left -= 1

    def stop(self):
        return self.left <= 0


@pytest.mark.parametrize("stop_after", [1, 7, 15, 31])  # 15 batches per epoch: mid-epoch and at its end
@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_stopped_and_resumed_training_ends_with_the_same_weights(tmp_path, stop_after, optimizer):
    train, dev = tiny_corpus(120, seed=1), tiny_corpus(30, seed=2)
    config = TrainConfig(optimizer=optimizer, **CONFIG)
    full = RNNTagger(config).fit(train, dev)

    stopped = RNNTagger(config).fit(train, dev, callback=StopAfter(stop_after))
    assert not stopped.state_.finished
    stopped.save_checkpoint(tmp_path / "ckpt", corpus="tiny")
    tagger, state = RNNTagger.load_checkpoint(tmp_path / "ckpt")
    resumed = tagger.fit(train, dev, resume=state)

    assert resumed.state_.finished and resumed.best_epoch_ == full.best_epoch_
    assert [r.loss for r in resumed.history_] == [r.loss for r in full.history_]
    for name in full.params_:
        np.testing.assert_array_equal(resumed.params_[name], full.params_[name], err_msg=name)
        np.testing.assert_array_equal(resumed.state_.params[name], full.state_.params[name], err_msg=name)


def test_resume_needs_the_tagger_of_its_checkpoint():
    train = tiny_corpus(20)
    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, features=())).fit(train, callback=StopAfter(1))
    with pytest.raises(ValueError, match="load_checkpoint"):
        RNNTagger(stopped.config).fit(train, resume=stopped.state_)


def test_a_model_folder_is_not_a_checkpoint(tmp_path):
    from postagger.errors import ModelError

    RNNTagger(TrainConfig(hidden=4, epochs=1, features=())).fit(tiny_corpus(20)).save(tmp_path / "m")
    with pytest.raises(ModelError, match="not a checkpoint"):
        RNNTagger.load_checkpoint(tmp_path / "m")


@pytest.mark.parametrize("field, value, message", [
    ("rng", 5, "rng is 5"), ("rng", {"state": 1}, "not a random generator's state"), ("lr", "x", "lr is 'x'"),
    ("epoch", 1.5, "epoch is 1.5"), ("finished", 0, "finished is 0"), ("extra", 1, "unexpected keyword"),
    ("batch", -3, "batch is -3, under 0"), ("epoch", 0, "epoch is 0, under 1"), ("loss_sum", float("nan"), "loss_sum is nan"),
    (None, 5, "has no attribute"), ("lr", None, "lr is None"), ("epoch", 99, "epoch is 99, after the last, 2"),
])
def test_a_hand_edited_checkpoint_is_a_one_line_model_error(tmp_path, field, value, message):
    import json

    from postagger.errors import ModelError

    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, batch_size=8, features=())).fit(tiny_corpus(40), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "ckpt", corpus="tiny")
    meta_path = tmp_path / "ckpt" / "model.json"
    meta = json.loads(meta_path.read_text())
    if field is None:
        meta["checkpoint"] = value
    else:
        meta["checkpoint"][field] = value
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="malformed checkpoint") as err:
        RNNTagger.load_checkpoint(tmp_path / "ckpt")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("edit, message", [
    ({"config": {"epochs": "3"}}, "config.epochs is '3'"), ({"config": {"batch_size": 0}}, "config.batch_size is 0, under 1"),
    ({"config": {"optimizer": "foo"}}, "config.optimizer is 'foo', not one of"), ({"config": {"cell": 5}}, "config.cell is 5"),
    ({"config": {"lr_decay": None}}, "config.lr_decay is None"), ({"config": {"dropout": 1.5}}, "config.dropout is 1.5"),
    ({"config": {"features": "suf1"}}, "config.features is 'suf1'"), ({"config": {"bidirectional": 1}}, "config.bidirectional is 1"),
    ({"history": 5}, "history is 5"), ({"history": [5]}, "history holds 5"),
    ({"history": [{"epoch": 1, "loss": "x", "dev_accuracy": None, "tokens_per_s": 1, "seconds": 1, "lr": 1}]}, "history's loss is 'x'"),
    ({"corpus": 5}, "corpus is 5"), ({"keep_traces": "no"}, "keep_traces is 'no'"),
])
def test_a_hand_edited_model_json_is_a_one_line_model_error_for_every_command(tmp_path, edit, message):
    """Every command that reads model.json: a traceback before (info, plot, evaluate, --resume)."""
    import json

    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, batch_size=8, features=())).fit(tiny_corpus(40), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "m.checkpoint", corpus="tiny",
                            source={"train_file": str(tmp_path / "t.tsv"), "dev_file": None, "format": None, "column": "upos"})
    meta_path = tmp_path / "m.checkpoint" / "model.json"
    meta = json.loads(meta_path.read_text())
    for key, value in edit.items():
        if isinstance(value, dict):
            meta[key].update(value)
        else:
            meta[key] = value
    meta_path.write_text(json.dumps(meta))
    folder = str(tmp_path / "m.checkpoint")
    for args in (["info", folder], ["evaluate", "--model", folder, "--file", folder + "/none.tsv"], ["train", "--resume", folder],
                 ["tag", "--model", folder, "a"]) + ((["plot", folder, "--out", str(tmp_path / "c.png")],) if "history" in edit else ()):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith(f"error: {meta_path}: malformed") and message in result.stderr, (args, result.stderr)
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("damage, message", [
    (("best.npz", "Why", lambda v: v[:3]), "best.npz: Why is float32 (3, 7), not float32 (8, 7)"),
    (("best.npz", "by", lambda v: v * np.nan), "best.npz: by holds NaN or infinite values"),
    (("optimizer.npz", "steps", None), "optimizer.npz: no step count"),
    (("optimizer.npz", "Whh/m", lambda v: v[:2]), "optimizer.npz: Whh/m is float32 (2, 4), not float32 (4, 4)"),
    (("optimizer.npz", "Why/v", lambda v: v[:, 0]), "optimizer.npz: Why/v is float32 (8,), not float32 (8, 7)"),
    (("optimizer.npz", "Why/m", None), "optimizer.npz: lacks Why/m for the checkpoint's adam optimizer"),
    (("optimizer.npz", "Why/m", lambda v: v.astype(np.float16)), "optimizer.npz: Why/m is float16 (8, 7), not float32 (8, 7)"),
    (("optimizer.npz", "Why/x", lambda v: v), "optimizer.npz: holds Why/x for the checkpoint's adam optimizer"),
    (("optimizer.npz", "Whh/v", lambda v: v + np.inf), "optimizer.npz: Whh/v holds NaN or infinite values"),
])
def test_a_damaged_checkpoint_array_is_a_one_line_model_error(tmp_path, damage, message):
    from postagger.errors import ModelError

    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, batch_size=8, features=())).fit(tiny_corpus(40), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "ckpt", corpus="tiny")
    file, key, change = damage
    with np.load(tmp_path / "ckpt" / file) as archive:
        arrays = dict(archive)
    if change is None:
        del arrays[key]
    else:
        arrays[key] = change(arrays[key] if key in arrays else arrays["Why/m"])
    np.savez(tmp_path / "ckpt" / file, **arrays)
    with pytest.raises(ModelError) as err:
        RNNTagger.load_checkpoint(tmp_path / "ckpt")
    assert message in str(err.value) and str(tmp_path) in str(err.value)


def test_a_moved_checkpoint_resumes_into_the_model_beside_it(tmp_path):
    import shutil

    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(40))
    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, batch_size=8, features=())).fit(tiny_corpus(40), callback=StopAfter(2))
    recorded = tmp_path / "before" / "m"
    stopped.save_checkpoint(tmp_path / "before" / "m.checkpoint", out=str(recorded), corpus=str(path), tagset="native",
                            split="file", keep_traces=False,
                            source={"train_file": str(path), "dev_file": None, "format": None, "column": "upos"})
    shutil.copytree(tmp_path / "before" / "m.checkpoint", tmp_path / "after" / "m.checkpoint")
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "after" / "m.checkpoint"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "after" / "m" / "weights.npz").exists() and not (tmp_path / "after" / "m.checkpoint").exists()
    assert not recorded.exists() and (tmp_path / "before" / "m.checkpoint").exists()  # the original is left alone


def test_resume_refuses_settings_of_its_own(tmp_path):
    """A resumed training keeps its checkpoint's settings and saves beside it; options that
    would be ignored are a usage error, before anything is read or written."""
    checkpoint = tmp_path / "m.checkpoint"
    checkpoint.mkdir()
    result = CliRunner().invoke(app, ["train", "--resume", str(checkpoint), "--epochs", "9", "--out", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 2 and "drop --epochs, --out" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists() and list(checkpoint.iterdir()) == []


def test_resuming_a_checkpoint_without_its_training_source_is_one_line(tmp_path):
    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, batch_size=8, features=())).fit(tiny_corpus(40), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "m.checkpoint", corpus="tiny", source={})
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "m.checkpoint")])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert "malformed checkpoint (no training source)" in result.stderr


ENV = {**os.environ, "PYTHONPATH": os.getcwd(),  # NLTK_DATA made absolute: some runs start in another folder
       "NLTK_DATA": os.pathsep.join(map(os.path.abspath, filter(None, os.environ.get("NLTK_DATA", "").split(os.pathsep))))}
TRAIN = [sys.executable, "-m", "postagger", "train", "--max-sentences", "1500", "--epochs", "6", "--hidden", "32"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    require_corpus("treebank")
    out = tmp_path_factory.mktemp("full") / "full"
    full = subprocess.run([*TRAIN, "--out", str(out)], env=ENV, capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted, signum):
    out, elsewhere = tmp_path / "cut", tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.Popen([*TRAIN, "--out", "cut"], env=ENV, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("epoch"):
            time.sleep(0.05)  # into epoch 2: an epoch takes about 0.1 s here, and the signal must land before the end
            proc.send_signal(signum)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 128 + signum, rest
    assert "Traceback" not in rest and "--resume" in rest
    assert not out.exists()  # --out is only written when training ends

    resumed = subprocess.run([sys.executable, "-m", "postagger", "train", "--resume", "../cut.checkpoint"],
                             env=ENV, cwd=elsewhere, capture_output=True, text=True)  # saved where it was asked for
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at epoch" in resumed.stderr
    assert not (tmp_path / "cut.checkpoint").exists() and not any(elsewhere.iterdir())
    with np.load(uninterrupted / "weights.npz") as a, np.load(out / "weights.npz") as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture
def saved_from_file(tmp_path):
    """(CLI arguments that train a small model from a TSV file into tmp_path/m, its weights.npz
    bytes as first saved there)."""
    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(60))
    base = ["train", "--train-file", str(path), "--hidden", "8", "--epochs", "2", "--out", str(tmp_path / "m")]
    assert CliRunner().invoke(app, base).exit_code == 0
    return base, (tmp_path / "m" / "weights.npz").read_bytes()


@pytest.mark.parametrize("extra, said", [
    (["--lr", "1e38"], "the loss became"),  # caught by the next batch's loss
    (["--lr", "1e39", "--epochs", "1", "--batch-size", "64"], "became infinite in epoch 1, batch 1"),  # the last update: no loss follows
])
def test_a_diverging_loss_stops_training_and_keeps_the_old_model(tmp_path, saved_from_file, extra, said):
    base, before = saved_from_file
    result = CliRunner().invoke(app, [*base, "--optimizer", "sgd", "--clip", "0", *extra, "--quiet"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: training stopped: ") and said in result.stderr and result.stderr.count("\n") == 1
    assert "left as it was" in result.stderr
    assert (tmp_path / "m" / "weights.npz").read_bytes() == before


@pytest.mark.parametrize("every, failing", [("0", "m.checkpoint"), ("30", "m")])  # the first save: a checkpoint or the model
def test_a_failed_save_is_one_line_and_keeps_the_old_model(tmp_path, saved_from_file, monkeypatch, every, failing):
    from postagger import persist

    base, before = saved_from_file

    def disk_full(folder, files):
        raise OSError(28, "No space left on device", str(folder))

    monkeypatch.setattr(persist, "write_folder_atomically", disk_full)
    result = CliRunner().invoke(app, [*base, "--checkpoint-every", every, "--quiet"])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {tmp_path / failing}: cannot write (no space left on device); no checkpoint was saved\n"
    assert (tmp_path / "m" / "weights.npz").read_bytes() == before


def test_a_checkpoint_renamed_otherwise_is_refused_and_nothing_is_touched(tmp_path, saved_from_file):
    """Its recorded --out may hold a newer model by now: resuming replaced it, then deleted the copy."""
    import shutil

    base, before = saved_from_file
    stopped = RNNTagger(TrainConfig(**CONFIG)).fit(tiny_corpus(60), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "m.checkpoint", out=str(tmp_path / "m"), corpus="tiny",
                            source={"train_file": str(tmp_path / "train.tsv"), "dev_file": None, "format": None, "column": "upos"})
    shutil.move(tmp_path / "m.checkpoint", tmp_path / "backup")
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "backup"), "-q"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path / 'backup'}: a checkpoint is named OUT.checkpoint and its model is "
                             f"saved as OUT beside it; rename the folder so\n")
    assert (tmp_path / "backup" / "model.json").exists() and (tmp_path / "m" / "weights.npz").read_bytes() == before


def test_a_fresh_training_leaves_an_interrupted_ones_checkpoint_alone(tmp_path, saved_from_file):
    """It would have replaced it, or deleted it on finishing: the interrupted run's work, lost."""
    base, before = saved_from_file
    stopped = RNNTagger(TrainConfig(**CONFIG)).fit(tiny_corpus(60), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "m.checkpoint", corpus="tiny")
    kept = {p.name: p.read_bytes() for p in (tmp_path / "m.checkpoint").iterdir()}
    result = CliRunner().invoke(app, [*base, "--quiet"])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path / 'm.checkpoint'}: holds an interrupted training; carry it on with "
                             f"`postagger train --resume {tmp_path / 'm.checkpoint'}`, or delete it to start afresh\n")
    assert {p.name: p.read_bytes() for p in (tmp_path / "m.checkpoint").iterdir()} == kept
    assert (tmp_path / "m" / "weights.npz").read_bytes() == before


@pytest.mark.parametrize("every, written", [("30", ["m"]), ("0", ["m.checkpoint", "m.checkpoint", "m"])])
def test_checkpoints_are_saved_at_the_end_of_an_epoch_every_checkpoint_every_seconds(tmp_path, monkeypatch, every, written):
    """A short training saves only its model; with --checkpoint-every 0 a checkpoint follows every
    epoch but the last, and goes when the model is saved."""
    from postagger import persist

    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(60))
    saves, save = [], persist.write_folder_atomically
    monkeypatch.setattr(persist, "write_folder_atomically", lambda folder, files: (saves.append(folder.name), save(folder, files)))
    result = CliRunner().invoke(app, ["train", "--train-file", str(path), "--hidden", "8", "--epochs", "3",
                                      "--out", str(tmp_path / "m"), "--checkpoint-every", every, "--quiet"])
    assert result.exit_code == 0, result.output
    assert saves == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "train.tsv"]


def test_a_checkpoint_is_saved_once_every_checkpoint_every_seconds_not_every_epoch_after(tmp_path, monkeypatch):
    """On a clock that moves 20 s whenever it is read, --checkpoint-every 30 saves after epochs 2
    and 4 of 6: each save starts the next 30 s."""
    import itertools
    import types

    from postagger import persist, runs

    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(60))
    ticks = itertools.count(0, 20)
    monkeypatch.setattr(runs, "time", types.SimpleNamespace(monotonic=lambda: next(ticks)))
    saves, save = [], persist.write_folder_atomically
    monkeypatch.setattr(persist, "write_folder_atomically", lambda folder, files: (saves.append(folder.name), save(folder, files)))
    result = CliRunner().invoke(app, ["train", "--train-file", str(path), "--hidden", "8", "--epochs", "6",
                                      "--out", str(tmp_path / "m"), "--checkpoint-every", "30", "--quiet"])
    assert result.exit_code == 0, result.output
    assert saves == ["m.checkpoint", "m.checkpoint", "m"]


def test_sources_without_a_column_are_upos_as_the_readers_default():
    from postagger import runs

    assert runs.tags_are_upos({"train_file": "a.conllu"}) and not runs.tags_are_upos({"train_file": "a.conllu", "column": "xpos"})
    assert runs.recorded_source({"train_file": "a.conllu"}, None)["column"] == "upos"


def test_a_checkpoint_folder_named_only_the_suffix_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".checkpoint").mkdir()
    result = CliRunner().invoke(app, ["train", "--resume", ".checkpoint"])
    assert result.exit_code == 2 and "a checkpoint is named OUT.checkpoint" in result.stderr, result.output


@pytest.mark.parametrize("out, message", [
    ("file/m", "is not a folder"), (".", "not a name for a model folder"), ("..", "not a name for a model folder"),
])
def test_an_out_that_cannot_be_written_stops_before_training(tmp_path, monkeypatch, out, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("mine")
    result = CliRunner().invoke(app, ["train", "--out", out, "--max-sentences", "10", "--epochs", "1"])
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.output
    assert "training on" not in result.stderr and (tmp_path / "file").read_text() == "mine"


# ---------------------------------------------------------------- saves cut short


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_save_cut_between_its_renames_puts_the_old_folder_back(tmp_path, monkeypatch):
    from postagger import persist

    persist.write_folder_atomically(tmp_path / "m", {"model.json": {"v": 1}})
    renames = []

    def replace(source, target):
        renames.append(target)
        if len(renames) == 2:  # staging -> m: a Ctrl-C just before it
            raise KeyboardInterrupt
        os.rename(source, target)

    monkeypatch.setattr(persist.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        persist.write_folder_atomically(tmp_path / "m", {"model.json": {"v": 2}})
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert (tmp_path / "m" / "model.json").read_text() == '{\n "v": 1\n}\n'


def test_a_save_killed_outright_leaves_nothing_that_the_next_save_does_not_clear(tmp_path, monkeypatch):
    """kill -9 mid-save leaves a staging folder (tens of MB for a checkpoint) and, between the
    renames, the model moved aside: the next save removes the one and puts the other back first,
    so that the model is there even if that save fails too. A live process's are left alone."""
    from postagger import persist

    dead, alive = _dead_pid(), os.getpid()
    for name in (f".m.{dead}-abc.tmp", f".m.{alive}-def.tmp", f".m.{dead}-ghi.tmp"):
        (tmp_path / name).mkdir()
    (tmp_path / f".m.old-{dead}").mkdir()
    (tmp_path / f".m.old-{dead}" / "model.json").write_text("{}")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(persist.json, "dumps", disk_full)
    with pytest.raises(OSError):
        persist.write_folder_atomically(tmp_path / "m", {"model.json": {"v": 2}})
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".m.{alive}-def.tmp", "m"]
    assert (tmp_path / "m" / "model.json").read_text() == "{}"


def test_a_model_a_killed_save_moved_aside_is_put_back_when_loaded(tmp_path):
    """kill -9 between a save's two renames leaves the model as .m.old-PID: loading said there
    was no model until the next save put it back. A live process's is left alone."""
    from postagger.errors import ModelError

    RNNTagger(TrainConfig(hidden=8, epochs=1)).fit(tiny_corpus(30)).save(tmp_path / f".m.old-{os.getpid()}")
    with pytest.raises(ModelError, match="no such model folder"):
        RNNTagger.load(tmp_path / "m")  # a save still running (this process): not touched
    dead = _dead_pid()
    os.rename(tmp_path / f".m.old-{os.getpid()}", tmp_path / f".m.old-{dead}")
    (tmp_path / f".m.{dead}-abc.tmp").mkdir()
    assert RNNTagger.load(tmp_path / "m").tag(["The", "dog"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_signal_as_training_ends_saves_the_model_and_says_so(tmp_path, monkeypatch):
    """A signal in the last batch, or during the last dev evaluation, comes too late to stop
    anything: the model is saved, and the message no longer promises a checkpoint."""
    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(40))
    fit = RNNTagger.fit

    def fit_then_signal(self, *args, **kwargs):
        fitted = fit(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # caught by train's handler, as in the last batch
        return fitted

    monkeypatch.setattr(RNNTagger, "fit", fit_then_signal)
    result = CliRunner().invoke(app, ["train", "--train-file", str(path), "--hidden", "4", "--epochs", "1",
                                      "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == "SIGTERM came as training ended: the model is saved, no checkpoint is needed"
    assert (tmp_path / "m" / "weights.npz").exists() and not (tmp_path / "m.checkpoint").exists()


def test_resuming_on_other_data_than_the_run_began_with_is_refused(tmp_path, monkeypatch):
    """A training file edited since, or other data piped to a run trained from stdin, would
    finish some other run than the one stopped."""
    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(40))
    fit = RNNTagger.fit

    def stop_at_once(self, *args, callback=None, **kwargs):
        if kwargs.get("resume") is None:
            callback.stop_requested = True  # as a Ctrl-C does: stop after the first batch
        return fit(self, *args, callback=callback, **kwargs)

    monkeypatch.setattr(RNNTagger, "fit", stop_at_once)
    stopped = CliRunner().invoke(app, ["train", "--train-file", str(path), "--hidden", "4", "--epochs", "2",
                                       "--out", str(tmp_path / "m"), "-q"])
    assert stopped.exit_code == 130 and (tmp_path / "m.checkpoint").exists()
    write_tsv(path, tiny_corpus(40, seed=5))
    refused = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "m.checkpoint"), "-q"])
    assert refused.exit_code == 2 and "the training data differs from the data it began with" in refused.stderr
    write_tsv(path, tiny_corpus(40))
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "m.checkpoint"), "-q"])
    assert resumed.exit_code == 0 and (tmp_path / "m" / "weights.npz").exists()


def test_train_and_dev_cannot_both_read_stdin(tmp_path):
    result = CliRunner().invoke(app, ["train", "--train-file", "-", "--dev-file", "-", "--format", "tsv",
                                      "--out", str(tmp_path / "m")], input="a\tDT\n")
    assert result.exit_code == 2 and "cannot both be -" in result.stderr


def test_a_leftover_whose_name_holds_no_process_number_is_left_alone(tmp_path):
    from postagger import persist

    (tmp_path / ".m.old-99999999999999999999").mkdir()
    persist.write_folder_atomically(tmp_path / "m", {"model.json": {"v": 1}})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.old-99999999999999999999", "m"]


def test_a_finished_resume_clears_what_killed_checkpoint_saves_left(tmp_path, monkeypatch):
    """A kill -9 in a checkpoint save left a staging folder (56 MB) that only a later save of
    that checkpoint would clear: a resume that finishes saves none, so it stayed."""
    path = tmp_path / "train.tsv"
    write_tsv(path, tiny_corpus(40))
    fit = RNNTagger.fit

    def stop_at_once(self, *args, callback=None, **kwargs):
        if kwargs.get("resume") is None:
            callback.stop_requested = True
        return fit(self, *args, callback=callback, **kwargs)

    monkeypatch.setattr(RNNTagger, "fit", stop_at_once)
    base = ["train", "--train-file", str(path), "--hidden", "4", "--epochs", "2", "--out", str(tmp_path / "m"), "-q"]
    assert CliRunner().invoke(app, base).exit_code == 130
    dead = _dead_pid()
    (tmp_path / f".m.checkpoint.{dead}-abc.tmp").mkdir()
    (tmp_path / f".m.checkpoint.old-{dead}").mkdir()
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "m.checkpoint"), "-q"])
    assert resumed.exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "train.tsv"]


def test_a_second_training_into_the_same_out_is_refused_while_the_first_runs(tmp_path, saved_from_file):
    """Both used to run, and the later save won (its checkpoint, too, replaced the other's). A
    run holds a lock on .OUT.lock from before it reads anything until it has saved."""
    from postagger import runs

    base, before = saved_from_file
    assert not (tmp_path / ".m.lock").exists()  # the run that saved m let go of it
    stopped = RNNTagger(TrainConfig(**CONFIG)).fit(tiny_corpus(60), callback=StopAfter(2))
    stopped.save_checkpoint(tmp_path / "m.checkpoint", corpus="tiny")
    kept = {p.name: p.read_bytes() for p in (tmp_path / "m.checkpoint").iterdir()}
    with runs.training_lock(tmp_path / "m"):  # as a run in another process holds it
        for args in (base, ["train", "--resume", str(tmp_path / "m.checkpoint")]):
            result = CliRunner().invoke(app, [*args, "--quiet"])
            assert result.exit_code == 2, result.output
            assert result.stderr == (f"error: {tmp_path / 'm'}: another postagger train (process {os.getpid()}) is "
                                     f"training into it; wait for it to end, or choose another --out\n")
        assert (tmp_path / ".m.lock").exists()
    assert not (tmp_path / ".m.lock").exists()
    assert {p.name: p.read_bytes() for p in (tmp_path / "m.checkpoint").iterdir()} == kept
    assert (tmp_path / "m" / "weights.npz").read_bytes() == before
    other = CliRunner().invoke(app, [*base[:-1], str(tmp_path / "new" / "m2"), "--quiet"])  # its folder made first
    assert other.exit_code == 0 and (tmp_path / "new" / "m2" / "weights.npz").exists()
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["m2"]


def test_a_run_that_fails_before_saving_leaves_no_folder_it_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--train-file", "nosuch.tsv", "--out", "deep/a/b", "-q"])
    assert result.exit_code == 2 and "nosuch.tsv: no such file" in result.stderr
    assert list(tmp_path.iterdir()) == []
