"""The command line: thin typer commands over the library. Data goes to stdout, messages to stderr.

Every expected failure is a PostaggerError: one line on stderr, exit 1 (bad data) or 2 (bad
usage), and a traceback only with --debug.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import signal
import sys
from dataclasses import fields
from enum import Enum
from itertools import count
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from . import __version__
from .errors import DataError, ModelError, PostaggerError, UsageError, first_line, reason

app = typer.Typer(
    name="postagger",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
DEFAULT_MODEL = Path("models/tagger")
DEFAULT_CORPUS = "treebank"
_debug = False


def _fail(err: PostaggerError) -> None:
    if _debug:
        raise err
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code=err.exit_code)


def say(message: str) -> None:
    typer.echo(message, err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"postagger {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
    threads: Annotated[int, typer.Option(min=1, max=4096, envvar="POSTAGGER_THREADS", metavar="N", help="BLAS threads. train runs the default network's right-to-left direction in a second process, both on one BLAS thread whatever this says (see train --parallel). With one, tag and evaluate run its two directions in two threads, a core each, on two cores or more and in batches of 64 sentences or more; with more, one after the other, BLAS sharing out each product. One thread trains as fast as two on an idle machine (the matrices are small), and one never stalls when another program keeps a core busy: two then run at about half speed.")] = 1,
) -> None:
    """Part-of-speech tagging with a recurrent neural network written in numpy: train, tag,
    evaluate, and check the hand-written gradients.

    \b
    Examples:
      postagger train                          # treebank, default network, saved to models/tagger
      postagger tag "The cat sat on the mat."
      postagger evaluate --split test
      postagger gradcheck
      postagger corpora
    """
    global _debug
    _debug = debug
    # both last as long as the command, not the process (the tests run many in one)
    if not debug:  # a library's warning is one line here, like every other message
        import warnings

        ctx.with_resource(warnings.catch_warnings())
        warnings.showwarning = lambda message, *_, **__: say(f"warning: {message}")
    import numpy  # noqa: F401  threadpoolctl limits only the BLAS libraries already loaded
    from threadpoolctl import threadpool_limits

    ctx.with_resource(threadpool_limits(limits=threads, user_api="blas"))


class Optimizer(str, Enum):
    adam = "adam"
    sgd = "sgd"
    adagrad = "adagrad"


class Tagset(str, Enum):
    native = "native"
    universal = "universal"


class Split(str, Enum):
    train = "train"
    dev = "dev"
    test = "test"
    all = "all"


class Cell(str, Enum):
    rnn = "rnn"
    lstm = "lstm"
    gru = "gru"


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    conllu = "conllu"
    tsv = "tsv"


class FileFormat(str, Enum):
    conllu = "conllu"
    tagged = "tagged"
    tsv = "tsv"


class Column(str, Enum):
    upos = "upos"
    xpos = "xpos"


QUIET = typer.Option("--quiet", "-q", help="Print results only: no progress, no messages.")
FORMAT_HELP = "Format of {files}: conllu, tagged (word/TAG lines) or tsv (default: from the extension)."


# ---------------------------------------------------------------- train


def _announcer(quiet: bool):
    """Who says that a corpus is being parsed (seconds, for brown): say, on a terminal and
    unless quiet; in a pipe or a log nothing, as with the progress bar."""
    return say if not quiet and sys.stderr.isatty() else None


def _model_folder(argument: Path | None, option: Path | None) -> Path:
    """info's and plot's model, named as their argument or, as tag and evaluate take it, --model."""
    if argument is not None and option is not None and argument != option:
        raise UsageError(f"two models named: {argument} and --model {option}; name one")
    return argument or option or DEFAULT_MODEL


def _load_for_tagging(folder: Path):
    """A saved model; a checkpoint is refused: its weights are those of the batch where training
    stopped, not the best epoch's."""
    from .tagger import RNNTagger

    tagger = RNNTagger.load(folder)
    if "checkpoint" in tagger.meta_:
        raise UsageError(f"{folder}: a checkpoint of an interrupted training, whose weights are those of the batch "
                         f"where it stopped; finish it with `postagger train --resume {folder}` and use the model it saves")
    return tagger


def _given(ctx: typer.Context, *names: str) -> list[str]:
    """Those of the named parameters given on the command line or in the environment."""
    return [name for name in names if ctx.get_parameter_source(name).name in ("COMMANDLINE", "ENVIRONMENT")]


class _StopOnSignal:
    """SIGINT and SIGTERM ask training to stop after the current batch; a second one aborts."""

    def __init__(self, progress, reporter):
        self.progress, self.reporter, self.signal = progress, reporter, None

    def __enter__(self):
        def handler(signum, frame):
            if self.signal is not None:
                raise KeyboardInterrupt
            self.signal = signum
            self.progress.stop_requested = True
            self.reporter.say(f"{signal.Signals(signum).name}: stopping after this batch to save a checkpoint (again to abort)")

        self._old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)


@app.command()
def train(
    ctx: typer.Context,
    corpus: Annotated[str, typer.Option(help="NLTK corpus: treebank, brown, conll2000, or any with tagged_sents(); NAME:FILE,... reads those of its files only (indian:hindi.pos).")] = DEFAULT_CORPUS,
    tagset: Annotated[Tagset, typer.Option(help="Native tags, or NLTK's 12-tag universal tagset.")] = Tagset.native,
    train_file: Annotated[Optional[Path], typer.Option(help="Train on this file instead of an NLTK corpus.")] = None,
    dev_file: Annotated[Optional[Path], typer.Option(help="Choose the best epoch on this file (with --train-file).")] = None,
    fmt: Annotated[Optional[FileFormat], typer.Option("--format", help=FORMAT_HELP.format(files="--train-file and --dev-file"))] = None,
    column: Annotated[Column, typer.Option(help="CoNLL-U tag column.")] = Column.upos,
    out: Annotated[Path, typer.Option(help="Folder to save the model in.")] = DEFAULT_MODEL,
    bidirectional: Annotated[bool, typer.Option("--bidirectional/--unidirectional", help="Run a second RNN right to left.")] = True,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units per direction.")] = 128,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: Elman rnn, lstm or gru.")] = Cell.rnn,
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training data.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per minibatch.")] = 32,
    optimizer: Annotated[Optimizer, typer.Option(help="Update rule.")] = Optimizer.adam,
    lr: Annotated[Optional[float], typer.Option(min=0.0, help="Learning rate (default: 0.004 for adam, 0.02 for adagrad, 1 for sgd).", show_default=False)] = None,
    clip: Annotated[float, typer.Option(min=0.0, help="Clip the global gradient norm to this (0: no clipping).")] = 5.0,
    lr_decay: Annotated[float, typer.Option(min=0.0, max=1.0, help="Multiply the learning rate by this after every epoch.")] = 0.8,
    patience: Annotated[int, typer.Option(min=0, help="Stop after this many epochs without a better dev accuracy (0: run every epoch).")] = 0,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Dropout on the states each layer passes on.")] = 0.0,
    word_dropout: Annotated[float, typer.Option(min=0.0, help="Hide a word seen c times in training behind the unknown word with chance a/(a+c), for this a (0: never), so that the network learns what unseen words look like.")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, help="Seed for every random choice; the same seed gives the same model.")] = 0,
    max_sentences: Annotated[Optional[int], typer.Option(min=1, help="Train on the first N training sentences only, in corpus order (indian's Bangla file comes first; --corpus indian:hindi.pos picks one language).")] = None,
    keep_traces: Annotated[bool, typer.Option(help="Keep empty elements: treebank's -NONE- traces (tagged X under --tagset universal, as NLTK maps -NONE-), cess_esp's elided subjects (*0*).")] = False,
    resume: Annotated[Optional[Path], typer.Option(help="Carry on from a checkpoint folder left by an interrupted run, with its settings (other training options are refused), saving beside it.")] = None,
    checkpoint_every: Annotated[float, typer.Option(min=0.0, metavar="SECONDS", help="Seconds of training between checkpoints, each saved at the end of an epoch (0: after every epoch). A signal always saves one.")] = 30.0,
    parallel: Annotated[Optional[bool], typer.Option("--parallel/--no-parallel", help="Run the right-to-left direction of a one-layer bidirectional Elman network, and half of the input tables' updates, in a second process on the other core. Default: on Linux with two cores or more. The model is the same either way (with the default one BLAS thread: two processes use one each).", show_default=False)] = None,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Train a tagger on an NLTK corpus's train split (or on your own files), choosing the best
    epoch on dev.

    Ctrl-C (SIGINT) or SIGTERM stops after the current batch and saves a checkpoint next to
    --out (OUT.checkpoint, also written at the end of an epoch every --checkpoint-every seconds);
    --resume continues from it and ends with the same weights as an uninterrupted run. --out is
    replaced only when training ends.

    \b
    Examples:
      postagger train
      postagger train --corpus conll2000 --out models/conll
      postagger train --corpus brown --tagset universal --epochs 5
      postagger train --corpus indian:hindi.pos --out models/hindi    # one file of a corpus
      postagger train --train-file en_ewt-train.conllu --dev-file en_ewt-dev.conllu --column xpos
      postagger train --cell lstm --out models/lstm
      postagger train --resume models/tagger.checkpoint
      postagger train --corpus brown --checkpoint-every 0    # a checkpoint after every epoch
      postagger train --max-sentences 200 --epochs 2 --out models/tiny
      postagger train --epochs 30 --patience 3      # stop when dev accuracy stalls
      postagger train --no-parallel    # one process, one core
    """
    from . import corpora, runs
    from .errors import TrainingDiverged
    from .persist import check_replaceable, check_writable
    from .progress import Reporter, TrainProgress
    from .tagger import RNNTagger
    from .train import TrainConfig

    reporter = Reporter(quiet)
    ctx.with_resource(corpora.announcing(_announcer(quiet)))  # a first parse of brown takes seconds
    try:
        # typer's ranges let NaN through (every comparison with it is false), and inf where no max is set
        for option, value in (("--lr", lr), ("--clip", clip), ("--lr-decay", lr_decay), ("--dropout", dropout),
                              ("--word-dropout", word_dropout), ("--checkpoint-every", checkpoint_every)):
            if value is not None and (math.isnan(value) or (math.isinf(value) and option != "--checkpoint-every")):
                raise UsageError(f"{option} {value}: must be a number of seconds (inf: checkpoints on a signal only)"
                                 if option == "--checkpoint-every" else f"{option} {value}: must be a finite number")
        if resume is not None:
            given = [f"--{'format' if name == 'fmt' else name.replace('_', '-')}" for name in _given(ctx, *ctx.params)
                     if name not in ("resume", "quiet", "parallel", "checkpoint_every")]
            if given:
                raise UsageError(f"--resume carries on with the checkpoint's own settings and saves beside it; "
                                 f"drop {', '.join(given)}")
            out, checkpoint = runs.resumed_out(resume), resume
            ctx.with_resource(runs.training_lock(out))  # before reading a checkpoint that a run may be writing
            tagger, state = RNNTagger.load_checkpoint(resume)
            source = runs.recorded_source(tagger.meta_.get("source"), resume / "model.json")
            config = tagger.config
        else:
            if dev_file and not train_file:
                raise UsageError("--dev-file needs --train-file")
            if not train_file and _given(ctx, "fmt", "column"):
                raise UsageError("--format and --column describe a --train-file; an NLTK corpus has its own")
            if str(train_file) == str(dev_file) == "-":
                raise UsageError("--train-file and --dev-file cannot both be - (stdin is read once)")
            if train_file and (corpus != DEFAULT_CORPUS or tagset is not Tagset.native or keep_traces):
                raise UsageError("--corpus, --tagset and --keep-traces choose an NLTK corpus; a --train-file "
                                 "trains on its own tags as they are")
            config = TrainConfig(
                hidden=hidden, cell=cell.value, layers=layers, bidirectional=bidirectional, epochs=epochs,
                batch_size=batch_size, optimizer=optimizer.value, lr=lr, clip=clip, seed=seed, max_sentences=max_sentences,
                lr_decay=lr_decay, patience=patience, dropout=dropout, word_dropout=word_dropout,
            )
            if train_file:
                source = runs.file_source(train_file, dev_file, fmt.value if fmt else None, column.value)
            else:
                source = runs.corpus_source(corpus, tagset.value, keep_traces)
            check_writable(out)  # before checkpoint_folder, which needs a name (not . or /)
            if out.name.endswith(runs.CHECKPOINT_SUFFIX):
                raise UsageError(f"{out}: a name ending in {runs.CHECKPOINT_SUFFIX} is a checkpoint's, kept beside its "
                                 f"model; choose another --out")
            ctx.with_resource(runs.training_lock(out, make_folder=True))  # before the checkpoint's check: a run may be writing it
            tagger, state, checkpoint = RNNTagger(config), None, runs.checkpoint_folder(out)
            if (checkpoint / "model.json").exists():  # a fresh run would replace it, or delete it when done
                raise UsageError(f"{checkpoint}: holds an interrupted training; carry it on with "
                                 f"`postagger train --resume {checkpoint}`, or delete it to start afresh")
        tagger.parallel = parallel
        for folder in (out, checkpoint):
            check_replaceable(folder)
            check_writable(folder)
        train_sents, dev_sents = runs.training_data(source)
        n_train = min(len(train_sents), config.max_sentences or len(train_sents))
        reporter.say(f"training on {runs.describe(source)}: {n_train} sentences, dev {len(dev_sents) or 'none'}"
                     + (f"; resuming at epoch {state.epoch}, batch {state.batch + 1}" if state else ""))
        unseen = runs.unseen_tag_share(train_sents[:n_train], dev_sents)
        if unseen > 0.5:
            say(f"warning: {unseen:.0%} of the dev tokens have tags that no training token has (another tagset?), "
                f"so dev accuracy cannot choose the best epoch")
        trained = runs.trained_count(train_sents[:n_train], dev_sents) if source.get("dev_file") else 0
        if trained > len(dev_sents) / 2:
            say(f"warning: {trained / len(dev_sents):.0%} of the dev sentences are training sentences too (the same "
                f"file?), so dev accuracy measures recall of the training data, not tagging of new text")
        progress = TrainProgress(reporter, config.epochs)
        with reporter, _StopOnSignal(progress, reporter) as stopper:
            finished = runs.train_to_folder(tagger, train_sents, dev_sents, out, checkpoint, source, state=state,
                                            checkpoint_every=checkpoint_every, callback=progress)
    except TrainingDiverged as err:
        kept = f"{out} was left as it was" if out.exists() else "no model was saved"
        if checkpoint.exists():  # resumed, it would diverge again: the same weights, the same settings
            kept += f"; {checkpoint} holds the last saved epoch (delete it to train afresh with other settings)"
        _fail(TrainingDiverged(f"{err}; {kept}"))
    except PostaggerError as err:
        _fail(err)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # more Ctrl-Cs would interrupt the clean-up at exit
        say("aborted; the last checkpoint (if any) and any existing model are unchanged")
        raise typer.Exit(code=130)
    if not finished:
        reporter.say(f"stopped; checkpoint saved to {checkpoint}; continue with: postagger train --resume {checkpoint}")
        raise typer.Exit(code=128 + int(stopper.signal or signal.SIGINT))
    best = tagger.dev_accuracy_
    best_text = "" if best is None else f", dev accuracy {100 * best:.2f}% at epoch {tagger.best_epoch_}"
    ran = len(tagger.history_)
    if ran < config.epochs:
        reporter.say(f"stopped after epoch {ran} of {config.epochs}: no better dev accuracy for {config.patience} epochs (--patience)")
    reporter.say(f"saved {out}{best_text}")
    if stopper.signal is not None:  # in the last batch, or after it: training had ended
        reporter.say(f"{signal.Signals(stopper.signal).name} came as training ended: the model is saved, no checkpoint is needed")


# ---------------------------------------------------------------- tag


def _read_lines(path: str) -> Iterator[str]:
    from .readers import read_lines

    return (line for _, line in read_lines(path))


@app.command()
def tag(
    text: Annotated[Optional[list[str]], typer.Argument(help="Sentences to tag, one per argument.", metavar="SENTENCE", show_default=False)] = None,
    model: Annotated[Path, typer.Option(help="Model folder.")] = DEFAULT_MODEL,
    input: Annotated[Optional[str], typer.Option("--input", "-i", metavar="PATH", help="File with one sentence per line; - reads stdin.")] = None,
    pretokenized: Annotated[bool, typer.Option(help="Split on whitespace instead of the Penn Treebank tokenizer (NLTK's rules, which also split off curly quotes here).")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json: one JSON object per line.")] = False,
    probs: Annotated[bool, typer.Option(help="Add each token's tag probability: word/TAG/P in text, which evaluate and train would read as the tag P; a third column in tsv, which they refuse (two columns); prob=P in CoNLL-U's MISC column, which they read back.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences read and tagged at once.")] = 2048,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Tag sentences with a trained model: one sentence per line in, one per line out (text
    and json; an empty line gives an empty line or an object without tokens), or one block per
    sentence (conllu and tsv, blocks separated by a blank line).

    \b
    Examples:
      postagger tag "The cat sat on the mat."
      echo "Time flies like an arrow ." | postagger tag --pretokenized
      postagger tag --input sentences.txt --json
      postagger tag --model models/conll --format conllu "He reckons the deficit will narrow."
    """
    from . import readers, runs
    from .progress import Reporter
    from .tokenize import tokenize_lines

    try:
        if as_json and fmt not in (OutputFormat.text, OutputFormat.json):
            raise UsageError(f"--json is --format json: give one of --json and --format {fmt.value}")
        fmt = OutputFormat.json if as_json else fmt
        if text and input:
            raise UsageError("give sentences as arguments or with --input, not both")
        if text:
            for number, sentence in enumerate(text, 1):
                try:
                    sentence.encode("utf-8")
                except UnicodeEncodeError:  # bytes the terminal's encoding could not decode
                    raise UsageError(f"sentence {number} of the arguments is not valid UTF-8") from None
            lines: Iterator[str] = iter(text)
        elif input == "":  # an unset variable in a script, not a wish to read stdin
            raise UsageError("--input is empty: give a file, or - for stdin")
        elif input is not None:
            lines = _read_lines(input)
        elif not sys.stdin.isatty():
            lines = _read_lines("-")
        else:
            raise UsageError('nothing to tag: give a sentence, --input FILE, or pipe text in (see postagger tag --help)')
        tagger = _load_for_tagging(model)
        upos = runs.tags_are_upos(tagger.meta_.get("source"))
        conllu = fmt == OutputFormat.conllu  # numbers its sentences by their lines, and skips empty ones
        with Reporter(quiet) as reporter:
            reporter.start("tagging (sentences)", None)
            done = 0
            for chunk in _chunked(lines, batch_size):
                sentences = [line.split() for line in chunk] if pretokenized else tokenize_lines(chunk)
                best, chosen, offsets = tagger.predict_flat(sentences, probabilities=probs)
                tags, chosen = tagger.tags_.decode(best), chosen.tolist() if probs else None  # the chunk's at once
                bounds = offsets.tolist()
                blocks = [
                    readers.format_tagged(tokens, tags[a:b], chosen[a:b] if probs else None, fmt.value, upos,
                                          sent_id=number if conllu else None)
                    for number, tokens, a, b in zip(count(done + 1), sentences, bounds, bounds[1:])
                    if tokens or not conllu  # CoNLL-U has no empty sentence; its sent_id keeps the count
                ]
                if blocks:
                    typer.echo("\n".join(blocks))  # one write per chunk
                done += len(chunk)
                reporter.advance(len(chunk))
    except PostaggerError as err:
        _fail(err)


def _chunked(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    """lines in lists of size; a line that cannot be read (not UTF-8) ends them, after the lines
    read before it, so that their tags are written first."""
    chunk: list[str] = []
    try:
        for line in lines:
            chunk.append(line)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except PostaggerError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


# ---------------------------------------------------------------- evaluate


@app.command()
def evaluate(
    ctx: typer.Context,
    model: Annotated[Path, typer.Option(help="Model folder.")] = DEFAULT_MODEL,
    corpus: Annotated[Optional[str], typer.Option(help="NLTK corpus to score on (default: the model's own); NAME:FILE,... scores on those files of one.")] = None,
    split: Annotated[Split, typer.Option(help="Which part of the corpus.")] = Split.test,
    file: Annotated[Optional[Path], typer.Option(help="Score on this tagged file instead of an NLTK corpus.")] = None,
    fmt: Annotated[Optional[FileFormat], typer.Option("--format", help=FORMAT_HELP.format(files="--file"))] = None,
    column: Annotated[Optional[Column], typer.Option(help="CoNLL-U tag column to score against (default: the one the model was trained on, else upos).")] = None,
    tagset: Annotated[Optional[Tagset], typer.Option(help="universal: map gold and predicted tags to NLTK's universal tagset first.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the report.")] = False,
    confusion_csv: Annotated[Optional[Path], typer.Option(help="Write the full confusion matrix as CSV.")] = None,
    confusion_png: Annotated[Optional[Path], typer.Option(help="Draw the row-normalised confusion matrix (needs postagger[plot]).")] = None,
    keep_traces: Annotated[Optional[bool], typer.Option("--keep-traces/--drop-traces", help="Empty elements (treebank's traces, cess_esp's *0*; default: as in training).")] = None,
    quiet: Annotated[bool, QUIET] = False,
) -> None:
    """Score a model on a corpus split or a file: accuracy, known and unknown words, per-tag
    scores, confusions.

    \b
    Examples:
      postagger evaluate
      postagger evaluate --model models/conll --corpus conll2000 --split test --json
      postagger evaluate --file en_ewt-test.conllu --column xpos
      postagger evaluate --file en_ewt-test.conllu --tagset universal
      postagger evaluate --confusion-png confusion.png --confusion-csv confusion.csv
    """
    from . import corpora, readers, runs
    from .evaluate import evaluate_tagger, format_report, table_for_tags, universal_table
    from .progress import Reporter

    ctx.with_resource(corpora.announcing(_announcer(quiet)))
    try:
        from .persist import check_file_writable

        if file is None and _given(ctx, "fmt", "column"):
            raise UsageError("--format and --column describe a --file; an NLTK corpus has its own")
        if file is not None and _given(ctx, "split", "keep_traces"):
            raise UsageError("--split and --keep-traces choose from an NLTK corpus; a --file is scored whole, as it is")
        read = (model, file) if file is not None and str(file) != "-" else (model,)
        for path, option in ((confusion_csv, "--confusion-csv"), (confusion_png, "--confusion-png")):
            if path is not None:
                check_file_writable(path, option, read)  # before the evaluation, not after it
        if confusion_csv is not None and confusion_png is not None and confusion_csv.resolve() == confusion_png.resolve():
            raise UsageError(f"{confusion_csv}: given to both --confusion-csv and --confusion-png")
        if confusion_png is not None:
            from .plot import check_available

            check_available(confusion_png, "--confusion-png")
        tagger = _load_for_tagging(model)
        info = tagger.info_
        model_tagset = info.get("tagset") or "native"
        if tagset is Tagset.native and model_tagset == "universal":
            raise UsageError(f"{model} predicts universal tags, which cannot be scored as native ones; "
                             "leave --tagset out, or give universal")
        mapped = ", ".join(corpora.UNIVERSAL_SOURCE)
        if (tagset is Tagset.universal and model_tagset == "native" and info.get("split") != "file"
                and corpora.native_tagset_name(info.get("corpus") or "") is None):
            raise UsageError(f"{model} predicts {info.get('corpus')}'s tags, which NLTK has no universal mapping for "
                             f"(it has for {mapped})")
        if file is not None:
            if corpus:
                raise UsageError("give --corpus or --file, not both")
            where = "<stdin>" if str(file) == "-" else str(file)  # as the readers' errors name it
            column_name = column.value if column else runs.trained_column(tagger.meta_.get("source")) or "upos"
            sents = readers.read_tagged_file(file, fmt.value if fmt else None, column_name)
        else:
            name = corpus or info.get("corpus") or DEFAULT_CORPUS
            if info.get("split") == "file" and not corpus:
                raise UsageError(f"{model} was trained on a file; score it with --file or --corpus")
            if corpora.native_tagset_name(name) is None and "universal" in (model_tagset, tagset and tagset.value):
                whose = f"{model} predicts universal tags, but " if model_tagset == "universal" else ""
                raise UsageError(f"{whose}NLTK has no universal mapping for {name}'s tags (it has for {mapped})")
            traces = keep_traces if keep_traces is not None else bool(info.get("keep_traces"))
            where = f"{name} {split.value}"
            try:
                sents = corpora.load_corpus(name, model_tagset, split.value, keep_traces=traces)
            except UsageError as err:
                if corpus or not info.get("corpus"):
                    raise
                raise UsageError(f"{model} was trained on {name!r} (its model.json says), which is not usable here: {err}; "
                                 "score it with --corpus or --file") from None
            trained_on = info.get("corpus") if info.get("split") != "file" else None
            if (corpus and trained_on and corpora.corpus_files(corpus)[0] == corpora.corpus_files(trained_on)[0]
                    and corpora.canonical_name(corpus) != trained_on):  # the same sentences, split otherwise
                trained = runs.trained_count(corpora.load_corpus(
                    trained_on, model_tagset, "train", keep_traces=bool(info.get("keep_traces"))), sents)
                if trained:
                    say(f"warning: {trained:,} of the {len(sents):,} sentences scored are in the train split of "
                        f"{trained_on}, which {model} was trained on")
        table = pred_table = None
        if tagset is Tagset.universal:
            def table_for(corpus_name):
                source = corpora.native_tagset_name(corpus_name or "") if model_tagset == "native" else None
                return universal_table(corpora.universal_tag_mapping(source) if source else None)

            pred_table = table_for(info.get("corpus")) if info.get("split") != "file" else table_for_tags(tagger.classes_, corpora.universal_tag_mapping)
            if file is not None:  # the table that maps most of the file's tags: UPOS, PTB or Brown tags
                table = table_for_tags(sorted({tag for s in sents for _, tag in s}), corpora.universal_tag_mapping)
            else:
                table = table_for(name)
        with Reporter(quiet) as reporter:
            reporter.start("tagging (sentences)", len(sents))
            try:
                result = evaluate_tagger(tagger, sents, table, pred_table, advance=reporter.advance)
            except DataError as err:  # nothing to score
                raise DataError(f"{where}: {err}") from None
        tags_used = "universal" if table is not None else model_tagset
        if confusion_csv is not None:
            _write_confusion_csv(result["confusion"], confusion_csv)
        if confusion_png is not None:
            from .plot import confusion_heatmap

            confusion_png = confusion_heatmap(result["confusion"], confusion_png, title=f"{model.name} on {where}")
    except PostaggerError as err:
        _fail(err)
    if as_json:  # what the text report's first line says, then the scores
        typer.echo(json.dumps({"data": where, "tagset": tags_used, "model": str(model), **result}))
    else:
        typer.echo(f"{where}, {tags_used} tags, model {model}\n")
        typer.echo(format_report(result))
    for path in (confusion_csv, confusion_png):
        if path is not None and not quiet:
            say(f"wrote {path}")


def _write_confusion_csv(confusion: dict, path: Path) -> None:
    import csv

    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["gold \\ predicted", *confusion["labels"]])
            for label, row in zip(confusion["labels"], confusion["matrix"]):
                writer.writerow([label, *row])
    except OSError as err:
        raise UsageError(f"{path}: cannot write ({reason(err)})") from None


# ---------------------------------------------------------------- plot, info, corpora


@app.command()
def plot(
    model: Annotated[Optional[Path], typer.Argument(help="Model folder (default: models/tagger).", show_default=False)] = None,
    model_option: Annotated[Optional[Path], typer.Option("--model", help="The model folder, as tag and evaluate name it.")] = None,
    out: Annotated[Path, typer.Option(help="PNG (or PDF, SVG) file to write.")] = Path("learning-curves.png"),
) -> None:
    """Draw a model's learning curves, training loss and dev accuracy by epoch (needs
    postagger[plot]).

    \b
    Examples:
      postagger plot models/tagger --out curves.png
      postagger plot --model models/conll --out conll.svg
    """
    from . import persist
    from .plot import check_available, learning_curves
    from .train import epoch_records

    try:
        model = _model_folder(model, model_option)
        if str(out) == "-":  # not stdout: it would have written a file named -.png
            raise UsageError("--out -: the curves are an image; give a file name (curves.png, .pdf, .svg)")
        persist.check_file_writable(out, "--out", (model,))
        check_available(out)
        meta = persist.read_meta(Path(model))
        try:
            history = [vars(record) for record in epoch_records(meta.get("history", []))]
        except ValueError as err:
            raise ModelError(f"{Path(model) / persist.META}: malformed ({err})") from None
        if not history:
            raise DataError(f"{model}: no training history recorded (no epoch was finished)")
        written = learning_curves(history, out, title=f"{Path(model).name}: {meta.get('corpus')}")
    except PostaggerError as err:
        _fail(err)
    say(f"wrote {written}")


@app.command()
def info(
    model: Annotated[Optional[Path], typer.Argument(help="Model folder (default: models/tagger).", show_default=False)] = None,
    model_option: Annotated[Optional[Path], typer.Option("--model", help="The model folder, as tag and evaluate name it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Describe a model: network, vocabulary and tagset sizes, training data, dev accuracy,
    size on disk.

    \b
    Examples:
      postagger info models/tagger
      postagger info --model models/conll --json
    """
    from . import model as network
    from . import runs
    from .tagger import RNNTagger

    try:
        model = _model_folder(model, model_option)
        tagger = RNNTagger.load(model)
    except PostaggerError as err:
        _fail(err)
    arch = network.architecture(tagger.params_)
    size = sum(p.stat().st_size for p in Path(model).iterdir() if p.is_file())
    record = {
        "model": str(model),
        "config": {f.name: getattr(tagger.config, f.name) for f in fields(tagger.config)},
        "cell": arch.cell, "layers": arch.layers, "directions": arch.directions,
        "parameters": int(sum(p.size for p in tagger.params_.values())),
        "vocabulary": {g: len(v) for g, v in tagger.vocabs_.items()},
        "tags": len(tagger.classes_),
        "corpus": tagger.info_.get("corpus"), "tagset": tagger.info_.get("tagset"),
        "column": runs.trained_column(tagger.meta_.get("source")),  # of a CoNLL-U file, or None
        "dev_accuracy": tagger.dev_accuracy_, "best_epoch": tagger.best_epoch_,
        "epochs_trained": len(tagger.history_), "bytes_on_disk": size,
    }
    position = tagger.meta_.get("checkpoint")  # an interrupted training's, not a finished model
    if isinstance(position, dict):
        record["checkpoint"] = {"epoch": position.get("epoch"), "batch": position.get("batch")}
    if as_json:
        typer.echo(json.dumps(record))
        return
    dev = "n/a" if record["dev_accuracy"] is None else f"{100 * record['dev_accuracy']:.2f}% (epoch {record['best_epoch']})"
    cfg = tagger.config
    lines = [
        f"model          {model}",
        f"network        {arch.cell}, {arch.layers} layer(s), {'bi' if arch.directions == 2 else 'uni'}directional, hidden {cfg.hidden}",
        f"parameters     {record['parameters']:,}",
        "inputs         " + ", ".join(f"{g} {n:,}" for g, n in record["vocabulary"].items()),
        f"tags           {record['tags']} ({record['tagset']}"
        + (f", CoNLL-U's {record['column'].upper()} column)" if record["column"] else ")"),
        f"trained on     {record['corpus']}, {record['epochs_trained']} epoch{'' if record['epochs_trained'] == 1 else 's'}, seed {cfg.seed}",
        f"dev accuracy   {dev}",
        f"size on disk   {size / 2**20:.1f} MiB",
        "config         " + ", ".join(f"{k}={v}" for k, v in record["config"].items() if k != "features"),
        f"features       {', '.join(cfg.features) or 'none'}",
    ]
    if "checkpoint" in record:
        where = record["checkpoint"]
        lines.insert(1, f"checkpoint     of a training stopped in epoch {where['epoch']} before batch {(where['batch'] or 0) + 1}; "
                        f"carry it on with: postagger train --resume {model}")
    typer.echo("\n".join(lines))


@app.command("corpora")
def list_corpora(
    ctx: typer.Context,
    names: Annotated[Optional[list[str]], typer.Argument(help="Corpora to list (default: all known ones); NAME:FILE,... lists those files of one.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    counts: Annotated[bool, typer.Option("--counts/--no-counts", help="Load each found corpus to count sentences, tokens and tags.")] = True,
) -> None:
    """List the known NLTK corpora: found or not, where, and their sentence, token and tag
    counts.

    \b
    Examples:
      postagger corpora
      postagger corpora treebank brown --json
      NLTK_DATA=/data/nltk postagger corpora --no-counts
    """
    from . import corpora

    try:
        for name in names or ():
            corpora.check_name(name)  # a name that is no NLTK corpus, or a file it lacks: a usage error, before any row
    except PostaggerError as err:
        _fail(err)
    rows = []
    ctx.with_resource(corpora.announcing(_announcer(False)))
    for name in names or corpora.KNOWN_CORPORA:
        row = corpora.corpus_status(name)
        if row["found"] and counts and "error" not in row:
            try:
                sents = corpora.load_corpus(name, "native", "all")
                row.update(sentences=len(sents), tokens=sum(map(len, sents)), tags=len({t for s in sents for _, t in s}))
            except PostaggerError as err:
                row["error"] = str(err)
        rows.append(row)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    width = max(11, *(len(r["name"]) for r in rows))
    typer.echo(f"{'corpus':<{width}} {'found':<6} {'sentences':>9} {'tokens':>10} {'tags':>5}  path")
    for r in rows:
        n = lambda k: f"{r[k]:,}" if k in r else "-"
        typer.echo(f"{r['name']:<{width}} {'yes' if r['found'] else 'no':<6} {n('sentences'):>9} {n('tokens'):>10} {n('tags'):>5}  {r.get('error') or r['path'] or ''}")
    typer.echo("\nsearched: " + ", ".join(corpora.nltk_data_paths()))
    folder = corpora.cache_folder()
    typer.echo(f"parses cached in: {folder if folder else 'nowhere (POSTAGGER_CACHE=off)'}")


# ---------------------------------------------------------------- gradcheck


@app.command()
def gradcheck(
    bidirectional: Annotated[bool, typer.Option("--bidirectional/--unidirectional", help="Check the bidirectional network (train's default) or one direction.")] = True,
    seq_len: Annotated[int, typer.Option(min=3, help="Timesteps T of the longest sentence (3 or more: gradients flow back through h over two steps at least).")] = 5,
    batch: Annotated[int, typer.Option(min=2, help="Sentences N; all but the first are shorter (padding).")] = 3,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units H.")] = 7,
    vocab: Annotated[int, typer.Option(min=2, help="Word vocabulary V.")] = 11,
    tags: Annotated[int, typer.Option(min=2, help="Tags K.")] = 6,
    groups: Annotated[int, typer.Option(min=0, help="Extra one-hot input groups (suffix-like tables).")] = 1,
    layers: Annotated[int, typer.Option(min=1, help="Stacked RNN layers.")] = 1,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: rnn, lstm or gru.")] = Cell.rnn,
    seed: Annotated[int, typer.Option(min=0, help="Seed for the random network and batch.")] = 0,
    tol: Annotated[float, typer.Option(help="Largest relative error allowed, above 0 and below 1.")] = 1e-6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare analytic BPTT gradients with centred finite differences, in float64.

    Exit 0 when every parameter's largest relative error is within --tol, and the padded
    batch's loss equals that of its sentences each alone (padding leaking into real tokens
    alike in forward and backward passes the gradient check); 1 otherwise. T, N, H, V and K
    must all differ and no weight may be square where it need not be, so that a transposed
    matrix or a swapped axis cannot pass for the right one.

    \b
    Examples:
      postagger gradcheck
      postagger gradcheck --layers 2 --seq-len 8
      postagger gradcheck --cell lstm --unidirectional
    """
    import numpy as np

    from . import gradcheck as gc

    if not 0 < tol < 1:  # also refuses NaN
        _fail(UsageError(f"--tol {tol:g}: a relative error lies between 0 and 1, so the tolerance must too "
                         "(1 or more would pass any gradient)"))
    hiding = gc.hiding_sizes(seq_len=seq_len, batch=batch, hidden=hidden, vocab=vocab, tags=tags, groups=groups,
                             bidirectional=bidirectional, cell=cell.value)
    if hiding:
        _fail(UsageError(f"{hiding}: such a problem can hide BPTT mistakes"))
    params, data = gc.random_problem(
        seq_len=seq_len, batch=batch, hidden=hidden, vocab=vocab, tags=tags, groups=groups,
        layers=layers, bidirectional=bidirectional, cell=cell.value, seed=seed,
    )
    report = gc.check_gradients(params, data)
    padding = gc.padding_error(params, data)
    passed = all(err <= tol for err in report.values()) and padding <= tol
    if as_json:
        typer.echo(json.dumps({
            "passed": passed, "tol": tol,
            "problem": {"cell": cell.value, "T": seq_len, "N": batch, "H": hidden, "V": vocab, "K": tags, "groups": groups,
                        "layers": layers, "bidirectional": bidirectional, "seed": seed, "dtype": "float64",
                        "steep_output_scale": gc.STEEP},
            "parameters": {k: {"shape": list(params[k].shape), "max_rel_error": v if np.isfinite(v) else None}  # JSON has no NaN
                           for k, v in report.items()},
            "padding_rel_error": padding,
        }))
    else:
        typer.echo(f"gradcheck: {cell.value}, T={seq_len} N={batch} H={hidden} V={vocab} K={tags}, "
                   f"{'bi' if bidirectional else 'uni'}directional, {layers} layer(s), float64, tol {tol:g}")
        typer.echo(f"  each error the larger of two checks: as drawn, and with Why x {gc.STEEP:g} (gradients far past "
                   "any clipping threshold, which catches clipping inside the loss)")
        for name, err in report.items():
            verdict = "ok" if err <= tol else "FAIL"
            typer.echo(f"  {name:<10} {str(params[name].shape):<10} max rel error {err:.2e}  {verdict}")
        typer.echo(f"  {'padding':<10} {'loss':<10} rel error {padding:.2e} against the sentences alone  "
                   f"{'ok' if padding <= tol else 'FAIL'}")
        failed = [what for what, bad in (("analytic and numerical gradients disagree", max(report.values()) > tol),
                                         ("padding changes the loss", padding > tol)) if bad]
        typer.echo("passed" if passed else f"FAILED: {'; '.join(failed)}")
    if not passed:
        raise typer.Exit(code=1)


class _ClosedOutput(io.TextIOBase):
    """Standard output when its descriptor was closed (Python leaves sys.stdout None, and echo
    then drops the results without a word): every write fails, so the command stops with one line."""

    encoding = "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


class _MessagesOrNothing(io.TextIOBase):
    """Standard error that goes quiet, instead of failing, once it cannot be written (its reader
    stopped, as in 2>&1 | head): messages and progress are not worth the work they report on."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):  # buffer, line_buffering ... of the stream
        return getattr(self._stream, name)

    # TextIOBase defines these, so __getattr__ never sees them: click would write around a stream
    # without an encoding, and lose stderr's backslashreplace
    @property
    def encoding(self) -> str:
        return self._stream.encoding

    @property
    def errors(self) -> str:
        return self._stream.errors

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            self._go_quiet()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            self._go_quiet()

    def _go_quiet(self) -> None:
        self._stream = open(os.devnull, "w", encoding="utf-8")


def _closed_streams() -> None:
    """A closed stdin reads as empty and a closed or broken stderr takes messages nowhere, as
    </dev/null and 2>/dev/null would; a closed stdout fails at the first result (see
    _ClosedOutput). Output is UTF-8, as every file postagger reads must be, whatever the locale's
    encoding: latin-1 could not write most words, and cp1252 output would not read back."""
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    if sys.stdout is None:
        sys.stdout = _ClosedOutput()
    for stream in (sys.stdout, sys.stderr):  # written as the readers read, whatever the locale says
        if getattr(stream, "encoding", "utf-8").lower().replace("-", "") != "utf8" and hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors=stream.errors)  # stderr's backslashreplace kept
    if not isinstance(sys.stderr, _MessagesOrNothing):
        sys.stderr = _MessagesOrNothing(sys.stderr)


def _kinds(err: BaseException) -> set[str]:
    """The names of an exception's classes: typer's own copy of click and click itself name
    their exceptions alike."""
    return {kind.__name__ for kind in type(err).__mro__}


def _usage_message(err) -> str:
    """Click's message, naming an option's environment variable only when the bad value came
    from it (click names it whenever the option has one)."""
    param, ctx = getattr(err, "param", None), getattr(err, "ctx", None)
    if "BadParameter" not in _kinds(err) or param is None or ctx is None or not getattr(param, "envvar", None):
        return err.format_message()
    source = getattr(ctx.get_parameter_source(param.name), "name", None)
    where = f"{param.envvar} in the environment" if source == "ENVIRONMENT" else f"'{param.opts[0]}'"
    return f"Invalid value for {where}: {err.message}"


_MEMORY_ADVICE = {
    "train": "a smaller --hidden or --batch-size needs less",
    "tag": "a smaller --batch-size needs less, and tag reads a sentence a line: is the input one huge line?",
    "evaluate": "is a sentence of the data very long?",
}


def _command_name() -> str | None:
    """The command the command line runs: its first word that names one."""
    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    return next((word for word in sys.argv[1:] if word in names), None)


def run() -> None:
    """The postagger command. Click's errors about the command line itself (a bad option value,
    an unknown command) become one line too, naming the --help to read."""
    _closed_streams()
    try:
        code = app(standalone_mode=False)
    except OSError as err:  # writing the output failed (a full disk, say); the commands name the files they read
        if _debug:
            raise
        if err.errno == errno.EPIPE:  # the reader stopped early (| head): nothing to say
            sys.stdout = open(os.devnull, "w", encoding="utf-8")  # nor at exit, when Python flushes
            raise SystemExit(1) from None
        why = reason(err)
        typer.echo(f"error: {err.filename}: {why}" if err.filename else f"error: cannot write the output: {why}", err=True)
        raise SystemExit(1) from None
    except MemoryError as err:  # numpy's says how much it wanted
        if _debug:
            raise
        advice = _MEMORY_ADVICE.get(_command_name(), "smaller batches need less")
        typer.echo(f"error: out of memory{f' ({first_line(err)})' if str(err) else ''}; {advice}", err=True)
        raise SystemExit(1) from None
    except Exception as err:
        kinds = _kinds(err)
        if "Abort" in kinds:  # Ctrl-C, which click turns into Abort
            raise SystemExit(130) from None
        if "ClickException" not in kinds:
            raise
        if "UsageError" in kinds and "NoArgsIsHelpError" not in kinds:
            command = err.ctx.command_path if getattr(err, "ctx", None) is not None else "postagger"
            typer.echo(f"error: {_usage_message(err)} (see {command} --help)", err=True)
        else:
            err.show()
        raise SystemExit(err.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(code if isinstance(code, int) else 0)
