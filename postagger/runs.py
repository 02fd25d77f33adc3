"""A training run kept in folders: what it trains on (its source), the checkpoint beside its
model folder (OUT.checkpoint), and the saves that make an interrupted run resumable.

A source is a dict, recorded in the model's and the checkpoint's model.json:
    {"corpus": name, "tagset": "native" | "universal", "keep_traces": bool}
    {"train_file": path, "dev_file": path | None, "format": name | None, "column": "upos" | "xpos"}
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

from . import corpora, readers
from .errors import DataError, ModelError, UsageError, reason
from .persist import clear_leftovers

CHECKPOINT_SUFFIX = ".checkpoint"


def corpus_source(corpus: str, tagset: str, keep_traces: bool) -> dict:
    return {"corpus": corpora.canonical_name(corpus), "tagset": tagset, "keep_traces": keep_traces}


def file_source(train_file: Path, dev_file: Path | None, fmt: str | None, column: str) -> dict:
    """Files by absolute path, so that a resumed run finds them from anywhere; - (stdin) as it is."""
    def absolute(path):
        return "-" if str(path) == "-" else str(Path(path).absolute())

    return {"train_file": absolute(train_file), "dev_file": absolute(dev_file) if dev_file else None,
            "format": fmt, "column": column}


def recorded_source(source, where: Path) -> dict:
    """The source a checkpoint records, with every field; a ModelError naming the file `where`
    when it is neither files nor a corpus."""
    source = source if isinstance(source, dict) else {}
    if isinstance(source.get("train_file"), str):
        return {"train_file": source["train_file"], "dev_file": source.get("dev_file"), "format": source.get("format"),
                "column": source.get("column") or "upos"}
    if isinstance(source.get("corpus"), str) and source.get("tagset") in ("native", "universal"):
        return corpus_source(source["corpus"], source["tagset"], bool(source.get("keep_traces")))
    raise ModelError(f"{where}: malformed checkpoint (no training source)")


def trained_column(source: dict | None) -> str | None:
    """The CoNLL-U column (upos or xpos) a model learned its tags from, or None when it did not
    learn from a CoNLL-U file."""
    source = source or {}
    if not source.get("train_file"):
        return None
    try:
        fmt = source.get("format") or readers.guess_format(source["train_file"])
    except UsageError:
        return None
    return (source.get("column") or "upos") if fmt == "conllu" else None


def tags_are_upos(source: dict | None) -> bool:
    """Whether a model's tags belong in CoNLL-U's UPOS column: only when it learned them from
    a CoNLL-U file's UPOS column. Every other tagset goes in XPOS, NLTK's universal one too
    (its ., CONJ and PRT are not UD's tags)."""
    return trained_column(source) == "upos"


def describe(source: dict) -> str:
    return source.get("train_file") or f"{source['corpus']} ({source['tagset']} tags)"


def training_data(source: dict) -> tuple[list, list]:
    """(train, dev) tagged sentences of a source: an NLTK corpus's splits, or files."""

    if source.get("train_file"):
        fmt, column = source["format"], source["column"]
        train = readers.read_tagged_file(source["train_file"], fmt, column)
        dev = readers.read_tagged_file(source["dev_file"], fmt, column) if source["dev_file"] else []
        return train, dev
    name, tagset, traces = source["corpus"], source["tagset"], source["keep_traces"]
    train = corpora.load_corpus(name, tagset, "train", keep_traces=traces)
    if not train and (every := corpora.load_corpus(name, tagset, "all", keep_traces=traces)):
        held = f"{len(every)} sentence{'s' if len(every) > 1 else ''}"
        raise DataError(f"corpus {name!r} holds {held}, none in its train split (the first 80 % of each file: a file "
                        f"of one sentence gives none); pick more files")
    if not train:
        raise DataError(f"corpus {name!r} has no tagged sentences to train on (its files: {corpora.corpus_status(name)['path']})")
    return train, corpora.load_corpus(name, tagset, "dev", keep_traces=traces)


def unseen_tag_share(train_sents, dev_sents) -> float:
    """The share of dev tokens whose tag no training token has (most of them: another tagset)."""
    train_tags = {tag for sentence in train_sents for _, tag in sentence}
    dev_tags = [tag for sentence in dev_sents for _, tag in sentence]
    return sum(tag not in train_tags for tag in dev_tags) / len(dev_tags) if dev_tags else 0.0


def trained_count(train_sents, other_sents) -> int:
    """How many of other_sents are training sentences too, word for word."""
    seen = {tuple(word for word, _ in sentence) for sentence in train_sents}
    return sum(tuple(word for word, _ in sentence) in seen for sentence in other_sents)


def data_digest(train_sents, dev_sents) -> str:
    """SHA-256 of the training and dev sentences, kept in checkpoints (and models): a resumed run
    checks that it reads the data its run began with."""
    digest = hashlib.sha256()
    for sentences in (train_sents, dev_sents):
        for sentence in sentences:
            digest.update("\x1f".join(f"{w}\x1e{t}" for w, t in sentence).encode("utf-8", "surrogatepass") + b"\x1d")
        digest.update(b"\x1c")
    return digest.hexdigest()


def model_info(source: dict) -> dict:
    """What model.json records about the training data, for evaluate and info."""
    if source.get("train_file"):
        return {"corpus": source["train_file"], "tagset": "native", "split": "file", "keep_traces": False}
    return {"corpus": source["corpus"], "tagset": source["tagset"], "split": "train", "keep_traces": source["keep_traces"]}


def checkpoint_folder(out: Path) -> Path:
    return out.with_name(out.name + CHECKPOINT_SUFFIX)


def resumed_out(checkpoint: Path) -> Path:
    """Where a resumed run saves: beside its checkpoint, named OUT.checkpoint wherever it was
    moved or copied. Any other name is refused: the out recorded in it may hold a newer model by
    now."""
    here = checkpoint.absolute()
    if not here.name.endswith(CHECKPOINT_SUFFIX) or here.name == CHECKPOINT_SUFFIX:
        raise UsageError(f"{checkpoint}: a checkpoint is named OUT.checkpoint and its model is saved as OUT beside "
                         f"it; rename the folder so")
    return here.with_name(here.name.removesuffix(CHECKPOINT_SUFFIX))


@contextlib.contextmanager
def training_lock(out: Path, make_folder: bool = False):
    """Held while a run trains into out (and its checkpoint): a second run to the same out is
    refused instead of racing the first to save. An advisory lock (flock) on .OUT.lock beside
    out, which the system lets go when the process ends, however it ends. make_folder makes
    the folders out goes in, as saving would, and removes them again if the run leaves them
    empty. No lock without flock, nor where the lock file cannot be made: the checks of the
    folders that follow say why."""
    path = out.absolute().with_name(f".{out.name}.lock")
    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()][::-1] if make_folder else []
    try:
        import fcntl
    except ImportError:
        fcntl = None
    fd = _locked(path, out, fcntl) if fcntl is not None and (make_folder or path.parent.is_dir()) else None
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)
        for folder in reversed(made):  # a failed run's: saved or checkpointed, they are not empty
            with contextlib.suppress(OSError):
                folder.rmdir()


def _locked(path: Path, out: Path, fcntl) -> int | None:
    """A descriptor of path holding its lock, or None when path cannot be made or opened."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:  # another user's, left by a killed run: a lock needs no write
                fd = os.open(path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise UsageError(f"{out}: another postagger train{f' (process {holder})' if holder else ''} is "
                                 f"training into it; wait for it to end, or choose another --out") from None
            if path.exists() and os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
            os.close(fd)  # the run before removed the file as this one opened it: take the new one
    except OSError:
        return None
    with contextlib.suppress(OSError):  # who holds it, for the message of a run refused
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    return fd


@contextlib.contextmanager
def _saving(folder: Path, checkpoint: Path):
    """A failed save (a full disk, a folder made read-only meanwhile) as one line saying what
    the last checkpoint holds."""
    try:
        yield
    except OSError as err:
        kept = f"{checkpoint} holds the last saved epoch" if checkpoint.exists() else "no checkpoint was saved"
        raise DataError(f"{err.filename or folder}: cannot write ({reason(err)}); {kept}") from None


def train_to_folder(tagger, train_sents, dev_sents, out: Path, checkpoint: Path, source: dict, *, state=None,
                    checkpoint_every: float = 30.0, callback=None) -> bool:
    """tagger.fit (carrying on from state, when given), saving a checkpoint at the end of an epoch
    once checkpoint_every seconds have passed since the last (a checkpoint holds the weights
    twice and Adam's moments: tens of MB), and when callback.stop() ends training early. When
    training ends, the model is saved into out and the checkpoint removed. True when it ended.
    A run carried on must read the data it began with."""
    info = {**model_info(source), "data_digest": data_digest(train_sents, dev_sents)}
    if state is not None and tagger.meta_.get("data_digest", info["data_digest"]) != info["data_digest"]:
        raise UsageError(f"{checkpoint}: the training data differs from the data it began with (a file changed, or "
                         f"other data on stdin); resuming would not finish that run")
    saved = [time.monotonic()]  # when training started, then when each checkpoint was saved

    def save_checkpoint(at_state):
        with _saving(checkpoint, checkpoint):
            tagger.save_checkpoint(checkpoint, at_state, source=source, **info)
        saved.append(time.monotonic())

    def save_epoch(at_state):
        if time.monotonic() - saved[-1] >= checkpoint_every:
            save_checkpoint(at_state)

    tagger.fit(train_sents, dev_sents or None, callback=callback, resume=state, on_epoch_saved=save_epoch)
    if not tagger.state_.finished:
        save_checkpoint(tagger.state_)
        return False
    with _saving(out, checkpoint):
        tagger.save(out, source=source, **info)
    if checkpoint.resolve() != out.resolve():  # its work is in the model now, with what killed saves left of it
        shutil.rmtree(checkpoint, ignore_errors=True)
        clear_leftovers(checkpoint, restore=False)
    return True
