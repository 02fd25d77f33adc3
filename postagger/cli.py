"""The command line: thin typer commands over the library. Data goes to stdout, messages to stderr.

Every expected failure is a PostaggerError: one line on stderr, exit 1 (bad data) or 2 (bad
usage), and a traceback only with --debug.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from . import __version__
from .errors import PostaggerError, UsageError

app = typer.Typer(
    name="postagger",
    help="Part-of-speech tagging with a recurrent neural network written in numpy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
DEFAULT_MODEL = Path("models/tagger")
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
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Train, run and evaluate a numpy RNN part-of-speech tagger.

    \b
    Examples:
      postagger train                          # treebank, default network, saved to models/tagger
      postagger tag "The cat sat on the mat."
      postagger evaluate --split test
      postagger gradcheck --bidirectional
    """
    global _debug
    _debug = debug


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


# ---------------------------------------------------------------- train


@app.command()
def train(
    corpus: Annotated[str, typer.Option(help="NLTK corpus: treebank, brown, conll2000, or any with tagged_sents().")] = "treebank",
    tagset: Annotated[Tagset, typer.Option(help="Native tags, or NLTK's 12-tag universal tagset.")] = Tagset.native,
    out: Annotated[Path, typer.Option(help="Folder to save the model in.")] = DEFAULT_MODEL,
    bidirectional: Annotated[bool, typer.Option("--bidirectional/--unidirectional", help="Run a second RNN right to left.")] = True,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units per direction.")] = 128,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: Elman rnn, lstm or gru.")] = Cell.rnn,
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training data.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per minibatch.")] = 32,
    optimizer: Annotated[Optimizer, typer.Option(help="Update rule.")] = Optimizer.adam,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate.")] = 4e-3,
    clip: Annotated[float, typer.Option(min=0.0, help="Clip the global gradient norm to this (0: no clipping).")] = 5.0,
    seed: Annotated[int, typer.Option(help="Seed for every random choice; the same seed gives the same model.")] = 0,
    max_sentences: Annotated[Optional[int], typer.Option(min=1, help="Train on the first N training sentences only.")] = None,
    keep_traces: Annotated[bool, typer.Option(help="Keep treebank's -NONE- trace tokens.")] = False,
) -> None:
    """Train a tagger on an NLTK corpus's train split, choosing the best epoch on dev.

    \b
    Examples:
      postagger train
      postagger train --corpus conll2000 --out models/conll
      postagger train --corpus brown --tagset universal --epochs 5
      postagger train --cell lstm --out models/lstm
      postagger train --max-sentences 200 --epochs 2 --out models/tiny
    """
    from . import corpora
    from .tagger import RNNTagger
    from .train import Callback, TrainConfig

    class EpochLines(Callback):
        def on_epoch_end(self, r):
            dev = "n/a" if r.dev_accuracy is None else f"{100 * r.dev_accuracy:.2f}%"
            say(f"epoch {r.epoch:3d}  loss {r.loss:.4f}  dev accuracy {dev}  {r.tokens_per_s:,.0f} tokens/s  {r.seconds:.1f} s")

    try:
        config = TrainConfig(
            hidden=hidden, cell=cell.value, layers=layers, bidirectional=bidirectional, epochs=epochs, batch_size=batch_size,
            optimizer=optimizer.value, lr=lr, clip=clip, seed=seed, max_sentences=max_sentences,
        )
        train_sents = corpora.load_corpus(corpus, tagset.value, "train", keep_traces=keep_traces)
        dev_sents = corpora.load_corpus(corpus, tagset.value, "dev", keep_traces=keep_traces)
        n_train = min(len(train_sents), max_sentences or len(train_sents))
        say(f"training on {corpus} ({tagset.value} tags): {n_train} sentences, dev {len(dev_sents)} sentences")
        tagger = RNNTagger(config).fit(train_sents, dev_sents, callback=EpochLines())
        tagger.save(out, corpus=corpus, tagset=tagset.value, split="train", keep_traces=keep_traces)
    except PostaggerError as err:
        _fail(err)
    best = tagger.dev_accuracy_
    best_text = "" if best is None else f" (dev accuracy {100 * best:.2f}% at epoch {tagger.best_epoch_})"
    say(f"saved {out}{best_text}")


# ---------------------------------------------------------------- tag


def _read_lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from (line.rstrip("\n") for line in sys.stdin)
        return
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                yield line.rstrip("\n")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        from .errors import DataError
        raise DataError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None


def _format(tokens: list[str], tags: list[str], probs: list[float] | None, fmt: OutputFormat) -> str:
    if fmt is OutputFormat.json:
        record = {"tokens": tokens, "tags": tags}
        if probs is not None:
            record["probs"] = [round(float(p), 4) for p in probs]
        return json.dumps(record, ensure_ascii=False)
    extra = [f"{p:.4f}" for p in probs] if probs is not None else [None] * len(tokens)
    if fmt is OutputFormat.text:
        return " ".join(f"{w}/{t}" + (f"/{e}" if e else "") for w, t, e in zip(tokens, tags, extra))
    if fmt is OutputFormat.tsv:
        return "".join(f"{w}\t{t}" + (f"\t{e}" if e else "") + "\n" for w, t, e in zip(tokens, tags, extra))
    rows = [
        f"{i}\t{w}\t_\t_\t{t}\t_\t_\t_\t_\t" + (f"prob={e}" if e else "_")
        for i, (w, t, e) in enumerate(zip(tokens, tags, extra), 1)
    ]
    return "".join(row + "\n" for row in rows)


@app.command()
def tag(
    text: Annotated[Optional[list[str]], typer.Argument(help="Sentences to tag, one per argument.")] = None,
    model: Annotated[Path, typer.Option(help="Model folder.")] = DEFAULT_MODEL,
    input: Annotated[Optional[str], typer.Option("--input", "-i", help="File with one sentence per line; - reads stdin.")] = None,
    pretokenized: Annotated[bool, typer.Option(help="Split on whitespace instead of NLTK's Treebank tokenizer.")] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json: one JSON object per line.")] = False,
    probs: Annotated[bool, typer.Option(help="Add each token's tag probability.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences tagged at once.")] = 2048,
) -> None:
    """Tag sentences with a trained model: one sentence per line in, one per line out.

    \b
    Examples:
      postagger tag "The cat sat on the mat."
      echo "Time flies like an arrow ." | postagger tag --pretokenized
      postagger tag --input sentences.txt --json
      postagger tag --model models/conll --format conllu "He reckons the deficit will narrow."
    """
    from . import corpora
    from .tagger import RNNTagger

    fmt = OutputFormat.json if as_json else fmt
    try:
        if text and input:
            raise UsageError("give sentences as arguments or with --input, not both")
        if text:
            lines: Iterator[str] = iter(text)
        elif input:
            lines = _read_lines(input)
        elif not sys.stdin.isatty():
            lines = _read_lines("-")
        else:
            raise UsageError('nothing to tag: give a sentence, --input FILE, or pipe text in (see postagger tag --help)')
        tagger = RNNTagger.load(model)
        split = str.split if pretokenized else corpora.tokenize
        for chunk in _chunked(lines, batch_size):
            sentences = [split(line) for line in chunk]
            for tokens, (ids, p) in zip(sentences, tagger.predict_ids(sentences)):
                tags = tagger.tags_.decode(ids)
                typer.echo(_format(tokens, tags, list(p) if probs else None, fmt))
    except PostaggerError as err:
        _fail(err)


def _chunked(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------- evaluate


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option(help="Model folder.")] = DEFAULT_MODEL,
    corpus: Annotated[Optional[str], typer.Option(help="NLTK corpus to score on (default: the model's own).")] = None,
    split: Annotated[Split, typer.Option(help="Which part of the corpus.")] = Split.test,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the report.")] = False,
    keep_traces: Annotated[Optional[bool], typer.Option("--keep-traces/--drop-traces", help="Treebank traces (default: as in training).")] = None,
) -> None:
    """Score a model on a corpus split: accuracy, known and unknown words, per-tag scores,
    confusions.

    \b
    Examples:
      postagger evaluate
      postagger evaluate --model models/conll --corpus conll2000 --split test --json
    """
    from . import corpora
    from .evaluate import format_report, score
    from .tagger import RNNTagger

    try:
        tagger = RNNTagger.load(model)
        info = tagger.info_
        name = corpus or info.get("corpus") or "treebank"
        traces = keep_traces if keep_traces is not None else bool(info.get("keep_traces"))
        tagset = info.get("tagset") or "native"
        sents = corpora.load_corpus(name, tagset, split.value, keep_traces=traces)
        tokens = [[w for w, _ in s] for s in sents]
        predicted = tagger.tag_sents(tokens)
        gold = [t for s in sents for _, t in s]
        pred = [t for s in predicted for _, t in s]
        known = [tagger.is_known(w) for s in tokens for w in s]
        result = score(gold, pred, known)
    except PostaggerError as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        typer.echo(f"{name} {split.value}, {tagset} tags, model {model}\n")
        typer.echo(format_report(result))


# ---------------------------------------------------------------- gradcheck


@app.command()
def gradcheck(
    bidirectional: Annotated[bool, typer.Option("--bidirectional/--unidirectional", help="Check the bidirectional network.")] = False,
    seq_len: Annotated[int, typer.Option(min=1, help="Timesteps T of the longest sentence.")] = 5,
    batch: Annotated[int, typer.Option(min=1, help="Sentences N; all but the first are shorter (padding).")] = 3,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden units H.")] = 7,
    vocab: Annotated[int, typer.Option(min=2, help="Word vocabulary V.")] = 11,
    tags: Annotated[int, typer.Option(min=2, help="Tags K.")] = 5,
    groups: Annotated[int, typer.Option(min=0, help="Extra one-hot input groups (suffix-like tables).")] = 1,
    layers: Annotated[int, typer.Option(min=1, help="Stacked RNN layers.")] = 1,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell: rnn, lstm or gru.")] = Cell.rnn,
    seed: Annotated[int, typer.Option(help="Seed for the random network and batch.")] = 0,
    tol: Annotated[float, typer.Option(help="Largest relative error allowed.")] = 1e-6,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare analytic BPTT gradients with centred finite differences, in float64.

    Exit 0 when every parameter's largest relative error is within --tol, 1 otherwise.

    \b
    Examples:
      postagger gradcheck
      postagger gradcheck --bidirectional --layers 2 --seq-len 8
      postagger gradcheck --cell lstm --bidirectional
    """
    from . import gradcheck as gc

    params, data = gc.random_problem(
        seq_len=seq_len, batch=batch, hidden=hidden, vocab=vocab, tags=tags, groups=groups,
        layers=layers, bidirectional=bidirectional, cell=cell.value, seed=seed,
    )
    report = gc.check_gradients(params, data)
    passed = all(err <= tol for err in report.values())
    if as_json:
        typer.echo(json.dumps({
            "passed": passed, "tol": tol,
            "parameters": {k: {"shape": list(params[k].shape), "max_rel_error": v} for k, v in report.items()},
        }))
    else:
        typer.echo(f"gradcheck: {cell.value}, T={seq_len} N={batch} H={hidden} V={vocab} K={tags}, "
                   f"{'bi' if bidirectional else 'uni'}directional, {layers} layer(s), float64, tol {tol:g}")
        for name, err in report.items():
            verdict = "ok" if err <= tol else "FAIL"
            typer.echo(f"  {name:<10} {str(params[name].shape):<10} max rel error {err:.2e}  {verdict}")
        typer.echo("passed" if passed else "FAILED: analytic and numerical gradients disagree")
    if not passed:
        raise typer.Exit(code=1)


def run() -> None:
    app()
