"""What users see: version, corpus discovery, model info, plots, CSV output, and a progress bar
only on a terminal."""

import csv
import json
import os
import pty
import select
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from postagger import __version__
from postagger.cli import app
from tests.conftest import require_corpus, require_module

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"postagger {__version__}"


def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback(tmp_path):
    """An interrupt that lands while typer and the commands are imported (the first fifth of a
    second) printed a traceback; the entry point catches it. Here the import of typer is
    interrupted, as a Ctrl-C at that moment would."""
    script = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, *args):\n"
        "        if name == 'typer':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "import postagger\n"
        "postagger.main()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "")
    scripts = subprocess.run([sys.executable, "-c", "from importlib.metadata import entry_points; "
                              "print(entry_points(group='console_scripts')['postagger'].value)"], capture_output=True, text=True)
    assert scripts.stdout.strip() in ("postagger:main", "")  # "" when postagger is not installed


def test_corpora_lists_what_is_found_with_counts():
    require_corpus("treebank")
    result = runner.invoke(app, ["corpora", "treebank", "conll2002", "--json"])  # conll2002: an NLTK corpus not here
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert not rows["conll2002"]["found"]
    tb = rows["treebank"]
    assert tb["found"] and tb["path"].endswith("treebank.zip")
    assert tb["sentences"] == 3914 and tb["tags"] == 45  # -NONE- traces dropped
    quick = runner.invoke(app, ["corpora", "--no-counts"])
    assert quick.exit_code == 0 and "searched:" in quick.stdout
    assert f"parses cached in: {os.environ['POSTAGGER_CACHE']}" in quick.stdout
    assert {"treebank", "brown", "conll2000"} <= {line.split()[0] for line in quick.stdout.splitlines()[1:] if line.strip()}


@pytest.mark.parametrize("name,message", [
    ("nosuch", "error: unknown corpus 'nosuch'; known: treebank, "),
    ("indian:nosuch.pos", "error: corpus 'indian' has no file 'nosuch.pos'; its files: bangla.pos, hindi.pos"),
])
def test_corpora_refuses_a_name_train_would_refuse(name, message):
    """It listed such a name as a row (found: yes, for a file indian lacks) and exited 0."""
    require_corpus("indian")
    for counts in ("--counts", "--no-counts"):
        result = runner.invoke(app, ["corpora", name, counts])
        assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith(message), result.output
        assert result.stderr.count("\n") == 1


def test_info_describes_the_model(treebank_model):
    model, _ = treebank_model
    result = runner.invoke(app, ["info", str(model), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    with np.load(model / "weights.npz") as weights:
        assert info["parameters"] == sum(weights[k].size for k in weights.files)
    meta = json.loads((model / "model.json").read_text())
    assert info["tags"] == len(meta["tags"]) - 2 and info["corpus"] == "treebank"
    assert info["vocabulary"]["word"] == len(meta["vocabularies"]["word"])
    assert info["bytes_on_disk"] == sum(p.stat().st_size for p in model.iterdir())
    text = runner.invoke(app, ["info", str(model)]).stdout
    assert "dev accuracy" in text and "size on disk" in text
    assert runner.invoke(app, ["info", "--model", str(model)]).stdout == text  # as tag and evaluate name a model


def test_confusion_csv_rows_are_gold_counts(treebank_model, tmp_path):
    model, _ = treebank_model
    path = tmp_path / "confusion.csv"
    result = runner.invoke(app, ["evaluate", "--model", str(model), "--split", "dev", "--json", "--confusion-csv", str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = list(csv.reader(path.open()))
    assert rows[0][1:] == report["confusion"]["labels"]
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == report["tokens"]
    support = {tag: row["support"] for tag, row in report["per_tag"].items()}
    for row in rows[1:]:
        assert sum(map(int, row[1:])) == support[row[0]]


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_plots_are_drawn(treebank_model, tmp_path):
    from tests.conftest import require_module

    require_module("matplotlib")
    model, _ = treebank_model
    heatmap, curves = tmp_path / "confusion.png", tmp_path / "curves.png"
    result = runner.invoke(app, ["evaluate", "--model", str(model), "--split", "dev", "--confusion-png", str(heatmap)])
    assert result.exit_code == 0, result.output
    assert min(png_size(heatmap)) > 400
    result = runner.invoke(app, ["plot", str(model), "--out", str(curves)])
    assert result.exit_code == 0, result.output
    assert min(png_size(curves)) > 300
    result = runner.invoke(app, ["plot", str(model), "--out", str(tmp_path / "noext")])
    assert result.stderr == f"wrote {tmp_path / 'noext.png'}\n" and min(png_size(tmp_path / "noext.png")) > 300


def test_a_plot_goes_into_a_pipe_or_device_as_named(treebank_model, tmp_path):
    """--out /dev/null wrote /dev/null.png: a name without an extension gets .png only when it
    is not a device or a pipe."""
    import os
    import threading

    from tests.conftest import require_module

    require_module("matplotlib")
    model, _ = treebank_model
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = runner.invoke(app, ["plot", str(model), "--out", str(pipe)])
    reader.join(timeout=10)
    if reader.is_alive():  # nothing was written to the pipe: open it for the waiting reader
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert result.exit_code == 0 and result.stderr == f"wrote {pipe}\n", result.output
    assert received[0].startswith(b"\x89PNG") and not (tmp_path / "pipe.png").exists()


@pytest.mark.parametrize("option", ["--confusion-csv", "--confusion-png", "plot --out"])
@pytest.mark.parametrize("where, message", [("missing/x.out", "no folder"), (".", "a folder, not a file")])
def test_an_output_that_cannot_be_written_is_refused_before_the_work(treebank_model, tmp_path, monkeypatch, option, where, message):
    from postagger.tagger import RNNTagger

    model, _ = treebank_model
    monkeypatch.setattr(RNNTagger, "load", lambda *_: pytest.fail("the model was loaded before the output was checked"))
    path = str(tmp_path / where)
    args = ["plot", str(model), "--out", path] if option.startswith("plot") else ["evaluate", "--model", str(model), option, path]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert f"choose another {option.split()[-1]}" in result.stderr


def test_plot_does_not_take_a_dash_for_a_file_name(treebank_model, tmp_path, monkeypatch):
    model, _ = treebank_model
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plot", str(model), "--out", "-"])
    assert result.exit_code == 2 and "--out -: the curves are an image" in result.stderr and not list(tmp_path.iterdir())


def test_info_and_plot_on_an_interrupted_trainings_checkpoint(tmp_path):
    """info said "0 epochs, dev accuracy n/a" and nothing of the checkpoint; plot called the
    missing history a usage error."""
    from postagger.tagger import RNNTagger
    from postagger.train import Callback, TrainConfig
    from tests.conftest import tiny_corpus

    class StopAtOnce(Callback):
        def stop(self):
            return True

    stopped = RNNTagger(TrainConfig(hidden=4, epochs=2, features=())).fit(tiny_corpus(40), callback=StopAtOnce())
    stopped.save_checkpoint(tmp_path / "m.checkpoint", corpus="tiny")
    info = runner.invoke(app, ["info", str(tmp_path / "m.checkpoint")])
    assert info.exit_code == 0
    assert (f"checkpoint     of a training stopped in epoch 1 before batch 2; carry it on with: postagger train "
            f"--resume {tmp_path / 'm.checkpoint'}") in info.stdout
    as_json = json.loads(runner.invoke(app, ["info", str(tmp_path / "m.checkpoint"), "--json"]).stdout)
    assert as_json["checkpoint"] == {"epoch": 1, "batch": 1}
    plotted = runner.invoke(app, ["plot", str(tmp_path / "m.checkpoint"), "--out", str(tmp_path / "c.png")])
    assert plotted.exit_code == 1 and "no training history recorded" in plotted.stderr
    for command in (["tag", "--model", str(tmp_path / "m.checkpoint"), "The dog"],
                    ["evaluate", "--model", str(tmp_path / "m.checkpoint"), "--corpus", "treebank"]):
        refused = runner.invoke(app, command)  # its weights are those of the batch where training stopped
        assert refused.exit_code == 2 and "a checkpoint of an interrupted training" in refused.stderr, refused.stderr


def test_the_heatmap_shows_each_gold_tags_share_of_predictions():
    from postagger.plot import row_normalised

    confusion = {"labels": ["NN", "DT", "JJ"], "matrix": [[6, 1, 3], [0, 4, 0], [0, 0, 0]]}
    labels, rates = row_normalised(confusion, max_tags=2)
    assert labels == ["NN", "DT"]
    np.testing.assert_allclose(rates, [[0.6, 0.1], [0.0, 1.0]])  # NN's JJ share stays in its total
    _, all_rates = row_normalised(confusion)
    np.testing.assert_allclose(all_rates.sum(axis=1), [1, 1, 0])  # a tag never seen as gold: a row of zeros


def test_without_matplotlib_the_plots_say_how_to_install_it(treebank_model, tmp_path, monkeypatch):
    model, _ = treebank_model
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = runner.invoke(app, ["plot", str(model), "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 1 and "pip install 'postagger[plot]'" in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "c.png").exists()
    from postagger.tagger import RNNTagger

    monkeypatch.setattr(RNNTagger, "load", lambda *_: pytest.fail("the model was loaded before matplotlib was checked"))
    scored = runner.invoke(app, ["evaluate", "--model", str(model), "--confusion-png", str(tmp_path / "c.png")])
    assert scored.exit_code == 1 and "pip install 'postagger[plot]'" in scored.stderr
    assert scored.stderr.count("\n") == 1


def run_with_stderr(args, tty: bool):
    """Run the CLI with stderr on a pseudo-terminal (tty) or a pipe; return (stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "120"}
    if not tty:
        done = subprocess.run([sys.executable, "-m", "postagger", *args], env=env, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "postagger", *args], env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        try:
            data = os.read(master, 65536) if ready else b""
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode()
    return proc.wait(), out, b"".join(chunks).decode(errors="replace")


def test_progress_bar_only_on_a_terminal(tmp_path):
    require_corpus("treebank")
    args = ["train", "--max-sentences", "400", "--epochs", "2", "--hidden", "16", "--out", str(tmp_path / "m")]
    code, out, err = run_with_stderr(args, tty=True)
    assert code == 0, err
    assert "\x1b[" in err and "epoch 1/2" in err and "tok/s" in err  # the bar, with its loss and speed
    assert "epoch   1/2  loss" in err and f"saved {tmp_path / 'm'}" in err
    assert out == ""
    code, out, err = run_with_stderr(args, tty=False)
    assert code == 0 and "\x1b[" not in err and "tok/s" not in err
    assert [line[:11] for line in err.splitlines() if line.startswith("epoch")] == ["epoch   1/2", "epoch   2/2"]
    code, out, err = run_with_stderr([*args, "--quiet"], tty=True)
    assert code == 0 and err == "" and out == ""


def test_a_terminal_is_told_when_a_corpus_is_parsed_and_only_then(tmp_path, monkeypatch):
    """A first parse of brown left a terminal blank for seconds. On a terminal the commands now
    say why they wait, unless --quiet; in a pipe, where an error must stay one line, nothing."""
    require_corpus("indian")
    from postagger import corpora

    monkeypatch.setenv("POSTAGGER_CACHE", str(tmp_path / "cache"))
    said = f"parsing indian:hindi.pos with NLTK's reader (kept in {tmp_path / 'cache'} for next time)"
    train = ["train", "--corpus", "indian:hindi.pos", "--epochs", "1", "--hidden", "8", "--no-parallel"]
    code, _, err = run_with_stderr([*train, "--out", str(tmp_path / "q"), "--quiet"], tty=True)
    assert code == 0 and err == ""
    for tty in (False, True):
        (tmp_path / "cache" / "indian@hindi.pos-native.json").unlink()
        code, _, err = run_with_stderr([*train, "--out", str(tmp_path / "m")], tty=tty)
        assert code == 0 and (said in err) == tty, err
    code, _, err = run_with_stderr(["evaluate", "--model", str(tmp_path / "m")], tty=True)
    assert code == 0 and "parsing" not in err  # read from the cache
    assert corpora._announce is None


def test_outputs_never_write_over_what_the_command_reads_nor_in_a_format_found_too_late(treebank_model, tmp_path, monkeypatch):
    require_module("matplotlib")
    from postagger.tagger import RNNTagger

    model, _ = treebank_model
    gold = tmp_path / "gold.tsv"
    gold.write_text("The\tDT\ncat\tNN\n", encoding="utf-8")
    before = {path: path.read_bytes() for path in [gold, *model.iterdir()]}
    monkeypatch.setattr(RNNTagger, "load", lambda *_: pytest.fail("the model was loaded before the outputs were checked"))
    for args, message in [
        (["evaluate", "--model", str(model), "--confusion-csv", str(model / "model.json")], "would write into"),
        (["evaluate", "--model", str(model), "--file", str(gold), "--confusion-csv", str(gold)], "would write over"),
        (["evaluate", "--model", str(model), "--confusion-png", str(model / "matrix.png")], "would write into"),
        (["plot", str(model), "--out", str(model / "curves.png")], "would write into"),
        (["evaluate", "--model", str(model), "--confusion-csv", str(tmp_path / "c.csv"), "--confusion-png", str(tmp_path / "c.xyz")],
         "matplotlib cannot write .xyz files"),
        (["plot", str(model), "--out", str(tmp_path / "curves.xyz")], "matplotlib cannot write .xyz files"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)
    assert {path: path.read_bytes() for path in before} == before and sorted(p.name for p in tmp_path.iterdir()) == ["gold.tsv"]


def test_training_carries_on_and_saves_when_its_messages_cannot_be_written(tmp_path):
    """2>&1 | head -1: the reader of stderr goes away after the first line, before the epoch
    lines (written by the progress reporter) and a warning (written by click's echo): a dev
    file of other tags."""
    from tests.conftest import tiny_corpus, write_tsv

    write_tsv(tmp_path / "train.tsv", tiny_corpus(60))
    write_tsv(tmp_path / "dev.tsv", [[(w, t.lower()) for w, t in s] for s in tiny_corpus(10, seed=1)])
    out = tmp_path / "m"
    process = subprocess.Popen([sys.executable, "-m", "postagger", "train", "--train-file", str(tmp_path / "train.tsv"),
                                "--dev-file", str(tmp_path / "dev.tsv"), "--epochs", "3", "--hidden", "8", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr.readline().startswith(b"training on")
    process.stderr.close()
    assert process.wait(timeout=300) == 0 and (out / "model.json").exists()


def test_an_error_naming_an_undecodable_path_keeps_its_bytes_visible():
    result = subprocess.run([sys.executable, "-m", "postagger", "tag", "--model", os.fsdecode(b"bad\xffname"), "x"],
                            capture_output=True)
    assert result.returncode == 1 and result.stderr.startswith(b"error: bad\\udcffname")
