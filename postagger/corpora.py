"""NLTK's tagged corpora as lists of sentences, split the same way every time. The only module
of postagger that imports nltk.

A sentence is a list of (word, tag) pairs. Splits, in corpus order, never shuffled:

    conll2000     train: train.txt minus its last 10 % of sentences; dev: those 10 %;
                  test: test.txt; all: train.txt then test.txt
    every other   train: the first 80 % of the sentences; dev: the next 10 %; test: the last 10 %;
                  all: everything
    (cut points are int(0.8 * n) and int(0.9 * n))

treebank drops its -NONE- trace tokens (empty elements such as *-1 or 0) unless keep_traces is
set; sentences left empty are dropped. Tagsets: "native", or "universal" through NLTK's own
mapping, which exists for treebank and conll2000 (en-ptb) and brown (en-brown).

NLTK data is looked for in $NLTK_DATA, then in the project's corpora/ folder, then in NLTK's
usual paths. A missing corpus gets one download attempt into corpora/, then a CorpusNotFoundError
that says how to get it.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from functools import lru_cache
from pathlib import Path

from .errors import CorpusNotFoundError, UsageError

Sentence = list[tuple[str, str]]

KNOWN_CORPORA = ("treebank", "brown", "conll2000", "indian", "mac_morpho", "cess_esp", "alpino")
SPLITS = ("train", "dev", "test", "all")
TAGSETS = ("native", "universal")
UNIVERSAL_SOURCE = {"treebank": "en-ptb", "conll2000": "en-ptb", "brown": "en-brown"}
PROJECT_DATA = Path(__file__).resolve().parent.parent / "corpora"


def nltk_data_paths() -> list[str]:
    """Where NLTK data is searched, in order: $NLTK_DATA, the project's corpora/, NLTK's paths."""
    import nltk

    env = [os.path.abspath(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    ordered = [*env, str(PROJECT_DATA), *nltk.data.path]
    return list(dict.fromkeys(ordered))


def _use_paths() -> None:
    import nltk

    nltk.data.path[:] = nltk_data_paths()


def _how_to_get(name: str) -> str:
    return (
        f"corpus '{name}' not found in NLTK_DATA, ./corpora or NLTK's paths and could not be "
        f"downloaded; get it with: python -m nltk.downloader -d corpora {name} "
        f"(or set NLTK_DATA to a folder holding corpora/{name}.zip)"
    )


def _download(resource: str) -> bool:
    """One quiet download attempt into the project's corpora/ folder."""
    import nltk

    PROJECT_DATA.mkdir(exist_ok=True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            sink = io.StringIO()  # print_error_to defaults to the sys.stderr of import time
            return bool(nltk.download(resource, download_dir=str(PROJECT_DATA), quiet=True, raise_on_error=False, print_error_to=sink))
        except Exception:  # the downloader raises assorted network errors
            return False


def _find(path: str) -> str | None:
    import nltk

    _use_paths()
    for candidate in (path, f"{path}.zip"):
        try:
            return str(nltk.data.find(candidate))
        except LookupError:
            continue
    return None


def _require(resource_path: str, package: str, name: str) -> None:
    if _find(resource_path) is None and not (_download(package) and _find(resource_path)):
        raise CorpusNotFoundError(_how_to_get(name))


def _reader(name: str):
    """NLTK's (lazy) reader for a corpus name, without loading the corpus."""
    import nltk.corpus
    from nltk.corpus.reader.api import CorpusReader
    from nltk.corpus.util import LazyCorpusLoader

    reader = getattr(nltk.corpus, name, None) if name.isidentifier() and not name.startswith("_") else None
    if not isinstance(reader, (LazyCorpusLoader, CorpusReader)):
        raise UsageError(_unknown(name))
    return reader


def _unknown(name: str) -> str:
    return f"unknown corpus {name!r}; known: {', '.join(KNOWN_CORPORA)} (or any NLTK corpus with tagged_sents())"


@lru_cache(maxsize=8)
def _load(name: str, tagset: str, keep_traces: bool) -> tuple[tuple[tuple[tuple[str, str], ...], ...], int]:
    """Every sentence of the corpus, and how many of them belong to conll2000's train.txt."""
    from nltk.tag.mapping import map_tag

    reader = _reader(name)
    _require(f"corpora/{name}", name, name)
    if tagset == "universal":
        _require("taggers/universal_tagset", "universal_tagset", "universal_tagset")
    try:
        if not hasattr(reader, "tagged_sents"):  # loads the corpus, now that it is there
            raise UsageError(f"corpus {name!r} has no tagged sentences; " + _unknown(name).split("; ")[1])
        if name == "conll2000":
            parts = [reader.tagged_sents("train.txt"), reader.tagged_sents("test.txt")]
        else:
            parts = [reader.tagged_sents()]
        sentences = [s for part in parts for s in part]
    except LookupError:
        raise CorpusNotFoundError(_how_to_get(name)) from None
    n_first = len(parts[0])
    if name == "treebank" and not keep_traces:
        sentences = [[(w, t) for w, t in s if t != "-NONE-"] for s in sentences]
    if tagset == "universal":
        source = UNIVERSAL_SOURCE[name]
        sentences = [[(w, map_tag(source, "universal", t)) for w, t in s] for s in sentences]
    clean = tuple(tuple((w, t) for w, t in s if w.strip() and t.strip()) for s in sentences)
    kept = [i for i, s in enumerate(clean) if s]
    return tuple(clean[i] for i in kept), sum(1 for i in kept if i < n_first)


def load_corpus(name: str, tagset: str = "native", split: str = "train", keep_traces: bool = False) -> list[Sentence]:
    """The sentences of one split of an NLTK corpus, as fresh lists of (word, tag) pairs."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if tagset not in TAGSETS:
        raise UsageError(f"unknown tagset {tagset!r}; choose native or universal")
    if tagset == "universal" and name not in UNIVERSAL_SOURCE:
        _reader(name)
        raise UsageError(
            f"NLTK has no universal mapping for {name}'s tags; use --tagset native "
            f"(universal works for {', '.join(UNIVERSAL_SOURCE)})"
        )
    sentences, n_first = _load(name, tagset, keep_traces)
    if name == "conll2000":
        cut = int(0.9 * n_first)
        bounds = {"train": (0, cut), "dev": (cut, n_first), "test": (n_first, len(sentences))}
    else:
        n = len(sentences)
        a, b = int(0.8 * n), int(0.9 * n)
        bounds = {"train": (0, a), "dev": (a, b), "test": (b, n)}
    start, end = bounds.get(split, (0, len(sentences)))
    return [list(s) for s in sentences[start:end]]


def corpus_status(name: str) -> dict:
    """Whether an NLTK corpus is installed and where, without loading it."""
    path = _find(f"corpora/{name}")
    return {"name": name, "found": path is not None, "path": path}


def native_tagset_name(name: str) -> str | None:
    """NLTK's name for a corpus's tagset, where it has a universal mapping."""
    return UNIVERSAL_SOURCE.get(name)


def universal_tag_mapping(source: str) -> dict[str, str]:
    """NLTK's table from a source tagset (en-ptb, en-brown, ...) to the universal tagset, read
    from its .map file: only the explicit entries, so that a tag it does not know is never
    turned into X silently (nltk.tag.mapping's own table is a defaultdict that does)."""
    import nltk

    _require("taggers/universal_tagset", "universal_tagset", "universal_tagset")
    try:
        text = nltk.data.load(f"taggers/universal_tagset/{source}.map", format="text")
    except LookupError:
        raise UsageError(f"NLTK has no universal mapping for the tagset {source!r}") from None
    pairs = (line.split("\t") for line in text.splitlines() if line.strip())
    return {fine: coarse for fine, coarse in pairs}
