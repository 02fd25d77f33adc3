"""The command line, through typer's CliRunner: train a tiny model, tag and evaluate with it."""

import json
import re

import pytest
from typer.testing import CliRunner

from postagger.cli import app
from tests.conftest import require_corpus, tiny_corpus, write_tsv

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_model(treebank_model):
    return treebank_model


def test_train_prints_one_line_per_epoch_and_saves(tiny_model):
    out, result = tiny_model
    lines = [l for l in result.stderr.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2
    for field in ("loss", "dev accuracy", "tokens/s", " s"):
        assert field in lines[0]
    assert (out / "weights.npz").exists() and (out / "model.json").exists()
    assert f"saved {out}" in result.stderr


def test_tag_a_sentence_and_stdin(tiny_model):
    out, _ = tiny_model
    result = runner.invoke(app, ["tag", "--model", str(out), "The cat sat on the mat."])
    assert result.exit_code == 0, result.output
    pairs = result.stdout.split()
    assert [p.rsplit("/", 1)[0] for p in pairs] == ["The", "cat", "sat", "on", "the", "mat", "."]
    assert pairs[0] == "The/DT" and pairs[-1] == "./."
    piped = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "--json"], input="Time flies .\n\nOK\n")
    assert piped.exit_code == 0, piped.output
    records = [json.loads(line) for line in piped.stdout.splitlines()]
    assert records[0]["tokens"] == ["Time", "flies", "."] and len(records[0]["tags"]) == 3
    assert records[1] == {"tokens": [], "tags": []}
    assert len(records) == 3


def test_tag_output_formats_keep_one_block_per_sentence(tiny_model):
    out, _ = tiny_model
    lines = "Time flies .\n\nOK\n"
    text = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "--pretokenized"], input=lines)
    assert text.exit_code == 0, text.output
    assert [len(l.split()) for l in text.stdout.split("\n")] == [3, 0, 1, 0]  # the last: the final newline
    probs = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "--pretokenized", "--probs"], input=lines)
    first = probs.stdout.splitlines()[0].split()
    assert [w.split("/")[0] for w in first] == ["Time", "flies", "."]
    assert all(0.0 < float(w.rsplit("/", 1)[1]) <= 1.0 for w in first)
    tsv = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "--pretokenized", "--format", "tsv", "--probs"], input=lines)
    kinds = ["row" if len(line.split("\t")) == 3 else line for line in tsv.stdout.split("\n")]
    assert kinds == ["row"] * 3 + ["", ""] + ["row", "", ""]  # a blank line ends each sentence, the empty one too
    conllu = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "--format", "conllu", "--batch-size", "2"],
                           input="Time flies.\n\n  It’s  late \t now\n")
    kinds = [line if line.startswith("#") or not line else "row" for line in conllu.stdout.split("\n")]
    assert kinds == ["# sent_id = 1", "# text = Time flies .", *["row"] * 3, "",  # text: what the words spell
                     "# sent_id = 3", "# text = It ’s late now", *["row"] * 4, "", ""]  # numbered by line, across
    # chunks; the empty line is no sentence (CoNLL-U has none without words)
    rows = [line.split("\t") for line, kind in zip(conllu.stdout.split("\n"), kinds) if kind == "row"]
    assert [r[0] for r in rows] == ["1", "2", "3", "1", "2", "3", "4"] and all(len(r) == 10 for r in rows)
    assert [r[1] for r in rows[3:]] == ["It", "’s", "late", "now"]


def test_evaluate_json_and_report(tiny_model):
    out, _ = tiny_model
    result = runner.invoke(app, ["evaluate", "--model", str(out), "--split", "dev", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key in ("accuracy", "known_accuracy", "unknown_accuracy", "tokens", "unknown_tokens", "per_tag", "confusion"):
        assert key in report
    assert report["tokens"] == 9527 and 0.5 < report["accuracy"] <= 1
    assert report["unknown_accuracy"] < report["known_accuracy"]
    labels, matrix = report["confusion"]["labels"], report["confusion"]["matrix"]
    assert len(matrix) == len(labels) and sum(map(sum, matrix)) == report["tokens"]
    text = runner.invoke(app, ["evaluate", "--model", str(out), "--split", "dev"])
    assert "unknown words" in text.stdout and "largest confusions" in text.stdout


@pytest.mark.parametrize("flags", [[], ["--unidirectional"], ["--layers", "2", "--seq-len", "4"]])
def test_gradcheck_passes(flags):
    result = runner.invoke(app, ["gradcheck", *flags, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["passed"] and all(p["max_rel_error"] < 1e-6 for p in report["parameters"].values())
    assert ("Whh_b" in report["parameters"]) == ("--unidirectional" not in flags)  # train's default network by default
    problem = report["problem"]  # what was checked, so that a report stands on its own
    assert problem["T"] == (4 if "--seq-len" in flags else 5) and problem["bidirectional"] == ("--unidirectional" not in flags)
    assert len({problem[k] for k in "TNHVK"}) == 5 and problem["dtype"] == "float64" and problem["steep_output_scale"] == 300
    assert report["padding_rel_error"] < 1e-12


def test_gradcheck_fails_a_forward_that_reads_the_padding(monkeypatch):
    """Its backward follows it, so the gradients pass; the padded batch's loss does not."""
    import numpy as np

    from postagger import model

    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda params, inputs, tokens, mask, **options:
                        forward(params, inputs, tokens, np.ones_like(mask), **options))
    result = runner.invoke(app, ["gradcheck"])
    assert result.exit_code == 1 and result.stdout.count(" ok\n") == 8
    padding = re.search(r"\n  padding    loss       rel error (\S+) against the sentences alone  FAIL\n", result.stdout)
    assert padding and float(padding.group(1)) > 1e-5 and result.stdout.endswith("\nFAILED: padding changes the loss\n")


@pytest.mark.parametrize("tol", ["1", "2", "0", "-1", "nan"])
def test_gradcheck_refuses_a_tolerance_that_passes_anything_or_nothing(tol):
    result = runner.invoke(app, ["gradcheck", "--tol", tol])
    assert result.exit_code == 2 and "the tolerance must too" in result.output and "passed" not in result.output


def test_gradcheck_fails_loudly_with_an_impossible_tolerance():
    result = runner.invoke(app, ["gradcheck", "--tol", "1e-30"])
    assert result.exit_code == 1 and "FAIL" in result.stdout
    assert result.stdout.endswith("\nFAILED: analytic and numerical gradients disagree\n")  # the padding is exact: 0


@pytest.mark.parametrize("flags, message", [
    (["--seq-len", "2"], "--seq-len"), (["--batch", "1"], "--batch"),
    (["--hidden", "11"], "T, N, H, V and K must all differ (got 5, 3, 11, 11, 6)"),
    (["--seq-len", "6"], "T, N, H, V and K must all differ (got 6, 3, 7, 11, 6)"),
    (["--unidirectional", "--vocab", "4", "--hidden", "8", "--tags", "9"], "the g1 input table would be square (8 x 8)"),
    (["--bidirectional", "--tags", "14"], "Why would be square (14 x 14)"),
])
def test_gradcheck_refuses_problems_that_would_hide_bptt_mistakes(flags, message):
    result = runner.invoke(app, ["gradcheck", *flags])
    assert result.exit_code == 2 and message in result.output


def test_errors_are_one_line_without_traceback(tmp_path):
    result = runner.invoke(app, ["tag", "--model", str(tmp_path / "none"), "hello"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["train", "--corpus", "nosuch"])
    assert result.exit_code == 2 and "unknown corpus" in result.stderr


def test_max_sentences_trains_on_the_first_n_only(tiny_model):
    from postagger import corpora
    from postagger.tagger import RNNTagger

    out, result = tiny_model  # trained with --max-sentences 300
    assert "300 sentences" in result.stderr
    train = corpora.load_corpus("treebank", split="train")
    seen = {w for s in train[:300] for w, _ in s}
    later = {w for s in train[300:] for w, _ in s} - seen
    tagger = RNNTagger.load(out)
    assert all(map(tagger.is_known, seen)) and not any(map(tagger.is_known, later)) and later


def test_tag_in_small_chunks_loses_and_reorders_nothing(tiny_model):
    out, _ = tiny_model
    lines = "".join(f"{' '.join(['word'] * (i % 4))} sentence {i} .\n" if i % 5 else "\n" for i in range(23))
    whole = runner.invoke(app, ["tag", "--model", str(out), "--pretokenized", "--input", "-"], input=lines)
    chunked = runner.invoke(app, ["tag", "--model", str(out), "--pretokenized", "--input", "-", "--batch-size", "3"], input=lines)
    assert whole.exit_code == chunked.exit_code == 0, chunked.output
    assert chunked.stdout == whole.stdout
    assert [[p.rsplit("/", 1)[0] for p in line.split()] for line in chunked.stdout.splitlines()] == [l.split() for l in lines.splitlines()]


def test_tag_runs_the_lanes_side_by_side_unless_blas_threads_share_the_products(tiny_model, monkeypatch):
    from postagger import model
    from postagger import tagger as tagger_module

    out, _ = tiny_model
    lines = "\n".join(f"The {n} cats sat on {n} mats ." for n in range(model.SIDE_BY_SIDE_ROWS)) + "\n"
    calls = []
    side_by_side = tagger_module._side_by_side
    monkeypatch.setattr(tagger_module, "_side_by_side", lambda run, lanes: calls.append(len(lanes)) or side_by_side(run, lanes))
    monkeypatch.setattr(tagger_module, "_cores", lambda: 2)
    results = {}
    for threads in ("1", "2"):
        calls.clear()
        results[threads] = runner.invoke(app, ["--threads", threads, "tag", "--model", str(out), "--pretokenized", "--input", "-"], input=lines)
        assert results[threads].exit_code == 0, results[threads].output
        assert calls == ([2] if threads == "1" else [])  # two BLAS threads and two lanes would overcommit two cores
    assert results["1"].stdout == results["2"].stdout
    assert len(results["1"].stdout.splitlines()) == model.SIDE_BY_SIDE_ROWS


def test_threads_sets_the_blas_threads_for_the_command_alone_and_debug_shows_the_error(monkeypatch):
    from threadpoolctl import threadpool_info

    from postagger import gradcheck
    from postagger.errors import ModelError

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen, check = [], gradcheck.check_gradients
    monkeypatch.setattr(gradcheck, "check_gradients", lambda *a, **k: seen.append(blas_threads()) or check(*a, **k))
    before = blas_threads()
    assert runner.invoke(app, ["--threads", "2", "gradcheck"]).exit_code == 0
    assert runner.invoke(app, ["gradcheck"], env={"POSTAGGER_THREADS": "1"}).exit_code == 0
    assert runner.invoke(app, ["gradcheck"]).exit_code == 0
    assert seen == [{2}, {1}, {1}] and blas_threads() == before  # the caller's threads back after each
    shown = runner.invoke(app, ["--debug", "tag", "--model", "no/such/model", "x"])
    assert isinstance(shown.exception, ModelError)  # raised, so that Python prints its traceback


def test_usage_errors_of_tag_and_evaluate(tiny_model, tmp_path):
    out, _ = tiny_model
    both = runner.invoke(app, ["tag", "--model", str(out), "--input", "-", "a sentence"])
    assert both.exit_code == 2 and "not both" in both.stderr
    path = tmp_path / "gold.txt"
    path.write_text("The/DT cat/NN ./.\n", encoding="utf-8")
    both = runner.invoke(app, ["evaluate", "--model", str(out), "--corpus", "treebank", "--file", str(path)])
    assert both.exit_code == 2 and "give --corpus or --file, not both" in both.stderr
    from_file = tmp_path / "from_file"
    trained = runner.invoke(app, ["train", "--train-file", str(path), "--hidden", "4", "--epochs", "1", "--out", str(from_file), "-q"])
    assert trained.exit_code == 0, trained.output
    unsaid = runner.invoke(app, ["evaluate", "--model", str(from_file)])
    assert unsaid.exit_code == 2 and "was trained on a file; score it with --file or --corpus" in unsaid.stderr


def test_patience_stops_training_when_dev_accuracy_stalls(tmp_path):
    """With a learning rate of 0 the dev accuracy never improves on epoch 1's, so --patience 2
    stops after epoch 3; the other tuning options reach the saved configuration."""
    require_corpus("treebank")
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", "--max-sentences", "60", "--hidden", "8", "--epochs", "6", "--lr", "0", "--patience", "2",
                                 "--lr-decay", "0.5", "--dropout", "0.25", "--word-dropout", "0.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "stopped after epoch 3 of 6: no better dev accuracy for 2 epochs (--patience)" in result.stderr
    meta = json.loads((out / "model.json").read_text())
    assert [record["epoch"] for record in meta["history"]] == [1, 2, 3] and meta["best_epoch"] == 1
    assert {k: meta["config"][k] for k in ("patience", "lr_decay", "dropout", "word_dropout")} == {
        "patience": 2, "lr_decay": 0.5, "dropout": 0.25, "word_dropout": 0.5}
    bad = runner.invoke(app, ["train", "--dropout", "0.95", "--out", str(tmp_path / "n")])
    assert bad.exit_code == 2 and not (tmp_path / "n").exists()


def test_tag_refuses_conflicting_formats_and_arguments_that_are_not_utf8(tiny_model):
    out, _ = tiny_model
    both = runner.invoke(app, ["tag", "--model", str(out), "--json", "--format", "tsv", "a b"])
    assert both.exit_code == 2 and "give one of --json and --format tsv" in both.stderr and not both.stdout
    same = runner.invoke(app, ["tag", "--model", str(out), "--json", "--format", "json", "a b"])
    assert same.exit_code == 0 and json.loads(same.stdout)["tokens"] == ["a", "b"]
    latin1 = runner.invoke(app, ["tag", "--model", str(out), "good", "caf\udce9"])  # b"caf\xe9" as Python decodes argv
    assert latin1.exit_code == 2 and "sentence 2 of the arguments is not valid UTF-8" in latin1.stderr and not latin1.stdout


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "0"], "error: Invalid value for '--epochs': 0 is not in the range x>=1. "
                                 "(see python -m postagger train --help)"),
    (["--threads", "0", "info"], "error: Invalid value for '--threads': 0 is not in the range 1<=x<=4096. "
                                 "(see python -m postagger --help)"),
    (["--threads", "100000000000000000000", "info"], "error: Invalid value for '--threads': 100000000000000000000 is "
                                                     "not in the range 1<=x<=4096. (see python -m postagger --help)"),
    (["bogus"], "error: No such command 'bogus'. (see python -m postagger --help)"),
    (["info", "--bogus"], "error: No such option: --bogus (see python -m postagger info --help)"),
])
def test_command_line_mistakes_are_one_line(args, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "postagger", *args], capture_output=True, text=True)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_a_bad_value_from_the_environment_names_the_variable():
    import os
    import subprocess
    import sys

    env = {**os.environ, "POSTAGGER_THREADS": "two"}
    result = subprocess.run([sys.executable, "-m", "postagger", "info"], capture_output=True, text=True, env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: Invalid value for POSTAGGER_THREADS in the environment: 'two' is not a valid ")
    assert result.stderr.endswith(" (see python -m postagger --help)\n") and result.stderr.count("\n") == 1


def test_without_arguments_the_help_is_shown():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "postagger"], capture_output=True, text=True)
    assert "Usage: python -m postagger [OPTIONS] COMMAND" in result.stderr and "gradcheck" in result.stderr


def test_a_reader_that_stops_early_ends_tagging_quietly(tiny_model, tmp_path):
    import subprocess
    import sys

    out, _ = tiny_model
    lines = tmp_path / "many.txt"
    lines.write_text("The cat sat on the mat .\n" * 50000)
    tagger = subprocess.Popen([sys.executable, "-m", "postagger", "tag", "--model", str(out), "-i", str(lines)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = tagger.stdout.readline()
    tagger.stdout.close()  # as `| head -1` does
    assert tagger.wait(timeout=60) == 1 and tagger.stderr.read() == b"" and first.startswith(b"The/")


@pytest.mark.parametrize("closed", [0, 1, 2])
def test_a_closed_standard_stream(tiny_model, closed):
    """Closed stdin reads as empty, closed stderr silences the messages, and closed stdout is
    an error: the results cannot be written."""
    import os
    import subprocess
    import sys

    out, _ = tiny_model
    sentence = [] if closed == 0 else ["The cat sat ."]
    result = subprocess.run([sys.executable, "-m", "postagger", "tag", "--model", str(out), *sentence],
                            capture_output=closed != 1, text=True, preexec_fn=lambda: os.close(closed),
                            stderr=subprocess.PIPE if closed == 1 else None)
    if closed == 0:
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    elif closed == 1:
        assert result.returncode == 1 and result.stderr == "error: cannot write the output: standard output is closed\n"
    else:
        assert result.returncode == 0 and [t.rsplit("/", 1)[0] for t in result.stdout.split()] == ["The", "cat", "sat", "."]


def test_an_output_that_cannot_be_written_is_one_line(monkeypatch, capsys):
    import sys

    import typer

    from postagger import cli

    echo = typer.echo

    def full_disk(message=None, err=False, **kwargs):
        if not err:
            raise OSError(28, "No space left on device")
        echo(message, err=err, **kwargs)

    monkeypatch.setattr(typer, "echo", full_disk)
    monkeypatch.setattr(sys, "argv", ["postagger", "gradcheck"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "error: cannot write the output: no space left on device\n"


def test_running_out_of_memory_is_one_line(monkeypatch, capsys, tiny_model):
    """A gated network tagging a 100,000-token line asked for gigabytes and, denied, printed
    numpy's traceback."""
    import sys

    from postagger import cli
    from postagger.tagger import RNNTagger

    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 195. MiB for an array with shape (100000, 512) and data type float32")

    out, _ = tiny_model
    monkeypatch.setattr(RNNTagger, "predict_flat", too_large)
    monkeypatch.setattr(sys, "argv", ["postagger", "tag", "--model", str(out), "a very long line"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.count("\n") == 1
    assert err.startswith("error: out of memory (Unable to allocate 195. MiB for an array with shape (100000, 512)")
    assert err.endswith("; a smaller --batch-size needs less, and tag reads a sentence a line: is the input one huge line?\n")


def test_running_out_of_memory_in_evaluation_advises_on_sentences(monkeypatch, capsys, tiny_model):
    import sys

    from postagger import cli
    from postagger.tagger import RNNTagger

    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 1.00 TiB")

    out, _ = tiny_model
    monkeypatch.setattr(RNNTagger, "tag_sents", too_large)
    monkeypatch.setattr(sys, "argv", ["postagger", "evaluate", "--model", str(out), "--split", "dev", "-q"])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err == "error: out of memory (Unable to allocate 1.00 TiB); is a sentence of the data very long?\n"


def test_running_out_of_memory_in_training_advises_on_training(monkeypatch, capsys, tmp_path):
    import sys

    from postagger import cli
    from postagger.tagger import RNNTagger

    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 8.73 TiB for an array with shape (11, 100000000000)")

    train = tmp_path / "train.tsv"
    write_tsv(train, tiny_corpus(20))
    monkeypatch.setattr(RNNTagger, "fit", too_large)
    monkeypatch.setattr(sys, "argv", ["postagger", "train", "--train-file", str(train), "--out", str(tmp_path / "m")])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.startswith("training on ") and err.count("\n") == 2
    assert not (tmp_path / "m").exists()
    assert err.endswith("(Unable to allocate 8.73 TiB for an array with shape (11, 100000000000)); "
                        "a smaller --hidden or --batch-size needs less\n")


def test_an_out_in_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    from postagger import persist

    monkeypatch.setattr(persist.os, "access", lambda path, mode: False)  # as a read-only folder for a non-root user
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "m"), "--max-sentences", "10", "--epochs", "1"])
    assert result.exit_code == 2 and f"cannot write in {tmp_path}" in result.stderr and result.stderr.count("\n") == 1


def test_a_file_that_cannot_be_read_during_training_is_not_called_a_failed_save(monkeypatch, capsys, tmp_path):
    import sys

    from postagger import cli, corpora

    def unreadable(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "wsj_0001.mrg")

    monkeypatch.setattr(corpora, "load_corpus", unreadable)
    monkeypatch.setattr(sys, "argv", ["postagger", "train", "--out", str(tmp_path / "m")])
    with pytest.raises(SystemExit) as exit_:
        cli.run()
    assert exit_.value.code == 1 and capsys.readouterr().err == "error: wsj_0001.mrg: permission denied\n"


def test_the_cli_choices_are_the_librarys():
    """The CLI spells its choices out (importing the library for --help would cost numpy's
    import); they must stay those the library knows."""
    from postagger import cli, corpora, model, optim, readers

    choices = {enum: [member.value for member in enum] for enum in (cli.Optimizer, cli.Cell, cli.Tagset, cli.Split, cli.FileFormat, cli.Column)}
    assert sorted(choices[cli.Optimizer]) == sorted(optim.OPTIMIZERS)
    assert sorted(choices[cli.Cell]) == sorted(model.CELLS)
    assert choices[cli.Tagset] == list(corpora.TAGSETS) and choices[cli.Split] == list(corpora.SPLITS)
    assert choices[cli.FileFormat] == list(readers.FORMATS) and choices[cli.Column] == list(readers.COLUMNS)


@pytest.mark.parametrize("value", ["inf", "nan"])
@pytest.mark.parametrize("option", ["--lr", "--clip", "--word-dropout", "--lr-decay", "--dropout"])
def test_an_infinite_or_nan_training_option_is_refused_before_any_data_is_read(option, value, tmp_path, monkeypatch):
    """typer's range checks let NaN through (and inf where there is no maximum): it crashed with
    a traceback once the corpus was loaded."""
    from postagger import corpora

    monkeypatch.setattr(corpora, "load_corpus", lambda *a, **k: pytest.fail("data read"))
    result = runner.invoke(app, ["train", option, value, "--out", str(tmp_path / "m")])
    if value == "inf" and option in ("--lr-decay", "--dropout"):  # their maximum refuses it
        assert result.exit_code == 2 and "is not in the range" in result.stderr
    else:
        assert result.exit_code == 2 and result.stderr == f"error: {option} {value}: must be a finite number\n"
    assert not (tmp_path / "m").exists()


def test_checkpoints_every_nan_seconds_are_refused(tmp_path):
    result = runner.invoke(app, ["train", "--checkpoint-every", "nan", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--checkpoint-every nan: must be a number of seconds" in result.stderr


def test_a_model_json_holding_an_infinite_setting_is_malformed(tiny_model, tmp_path):
    import shutil

    from postagger.errors import ModelError
    from postagger.tagger import RNNTagger

    out, _ = tiny_model
    shutil.copytree(out, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["config"]["clip"] = float("inf")
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))  # Infinity, which Python's json reads back
    with pytest.raises(ModelError, match="config.clip is inf, not a finite number"):
        RNNTagger.load(tmp_path / "m")


def test_evaluate_names_the_model_when_its_recorded_corpus_is_unknown(tiny_model, tmp_path):
    import shutil

    out, _ = tiny_model
    shutil.copytree(out, tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["corpus"] = "nosuchcorpus"
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {tmp_path / 'm'} was trained on 'nosuchcorpus' (its model.json says)")
    assert "unknown corpus 'nosuchcorpus'" in result.stderr and "score it with --corpus or --file" in result.stderr


def test_the_learning_rate_defaults_to_the_optimizers_own(tmp_path, tiny):
    from postagger.optim import DEFAULT_LR, OPTIMIZERS
    from tests.conftest import write_tsv

    from postagger.train import TrainConfig

    assert set(DEFAULT_LR) == set(OPTIMIZERS)
    assert all(TrainConfig(optimizer=name).lr == lr for name, lr in DEFAULT_LR.items())  # the library's default too
    help_text = " ".join(runner.invoke(app, ["train", "--help"], terminal_width=200).stdout.split())
    assert all(f"{lr:g} for {name}" in help_text for name, lr in DEFAULT_LR.items())
    write_tsv(tmp_path / "train.tsv", tiny)
    for optimizer in ("sgd", "adagrad"):
        out = tmp_path / optimizer
        result = runner.invoke(app, ["train", "--train-file", str(tmp_path / "train.tsv"), "--optimizer", optimizer,
                                     "--epochs", "1", "--hidden", "4", "--out", str(out), "-q"])
        assert result.exit_code == 0 and json.loads((out / "model.json").read_text())["config"]["lr"] == DEFAULT_LR[optimizer]


def test_train_on_one_file_of_a_corpus_and_evaluate_on_its_test_split(tmp_path):
    """--corpus indian:hindi.pos trains on Hindi only; the model remembers the name, so evaluate
    scores it on Hindi's test split."""
    require_corpus("indian")
    from postagger import corpora

    out = tmp_path / "hindi"
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--corpus", "indian:hindi.pos", "--epochs", "1", "--hidden", "8",
                                  "--out", str(out), "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((out / "model.json").read_text())["corpus"] == "indian:hindi.pos"
    scored = runner.invoke(app, ["evaluate", "--model", str(out), "--json"])
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.stdout)
    hindi_test = corpora.load_corpus("indian:hindi.pos", split="test")
    assert report["data"] == "indian:hindi.pos test" and report["tokens"] == sum(map(len, hindi_test))
    refused = runner.invoke(app, ["train", "--corpus", "indian:urdu.pos", "--out", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "has no file 'urdu.pos'; its files: bangla.pos" in refused.stderr


def test_picked_files_mistakes_and_overlaps_are_one_line(tmp_path):
    """A malformed pick, a pick whose train split is empty, and scoring on sentences the model
    was trained on (another name for the same corpus splits it otherwise) each say so."""
    require_corpus("treebank")
    require_corpus("conll2000")
    runner = CliRunner()
    listed = runner.invoke(app, ["corpora", "indian:"])
    assert listed.exit_code == 2 and listed.stderr.count("\n") == 1 and "name the corpus, then its files" in listed.stderr
    empty = runner.invoke(app, ["train", "--corpus", "treebank:wsj_0002.mrg", "--out", str(tmp_path / "x"), "--quiet"])
    assert empty.exit_code == 1 and "holds 1 sentence, none in its train split" in empty.stderr
    out = tmp_path / "c2k"
    trained = runner.invoke(app, ["train", "--corpus", "conll2000: test.txt", "--epochs", "1", "--hidden", "8",
                                  "--out", str(out), "--quiet"])
    assert trained.exit_code == 0, trained.output
    assert json.loads((out / "model.json").read_text())["corpus"] == "conll2000:test.txt"
    scored = runner.invoke(app, ["evaluate", "--model", str(out), "--corpus", "conll2000", "--json"])
    assert scored.exit_code == 0, scored.output
    from postagger import corpora

    seen = {tuple(w for w, _ in s) for s in corpora.load_corpus("conll2000:test.txt")}
    expected = sum(tuple(w for w, _ in s) in seen for s in corpora.load_corpus("conll2000", split="test"))
    assert expected > 1000 and f"warning: {expected:,} of the " in scored.stderr
    alone = runner.invoke(app, ["evaluate", "--model", str(out), "--json"])  # its own test split: no warning
    assert alone.exit_code == 0 and "warning" not in alone.stderr
