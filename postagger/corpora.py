"""NLTK's tagged corpora as lists of sentences, split the same way every time. The only module
of postagger that imports nltk.

A sentence is a list of (word, tag) pairs. Splits, in corpus order, never shuffled:

    conll2000     train: train.txt minus its last 10 % of sentences; dev: those 10 %;
                  test: test.txt; all: train.txt then test.txt
    indian        train, dev and test: 80 %, 10 % and 10 % of each file (one language each), the
                  files' parts joined in file order
    every other   train: the first 80 % of the sentences; dev: the next 10 %; test: the last 10 %;
                  all: everything
    NAME:FILE,... those files of the corpus only (indian:hindi.pos), each split as indian's are,
                  joined in the order named
    (cut points are int(0.8 * n) and int(0.9 * n))

Empty elements, which never occur in real text, are dropped unless keep_traces is set:
treebank's -NONE- trace tokens (such as *-1 or 0) and cess_esp's elided subjects (*0*);
sentences left empty are dropped, and so is a sentence with a token lacking its word or its tag
(a few in indian and mac_morpho), rather than be cut short. Tagsets: "native", or "universal" through NLTK's own
mapping, which exists for treebank and conll2000 (en-ptb) and brown (en-brown).

NLTK data is looked for in $NLTK_DATA, then in the project's corpora/ folder, then in NLTK's
usual paths. A missing corpus gets one download attempt into corpora/, then a CorpusNotFoundError
that says how to get it.

NLTK's readers take seconds to parse a corpus (treebank 1.0 s, brown 2.4 s, after 0.9 s to import
nltk), so each parse is kept as JSON in a cache folder (see cache_folder) and read back (treebank
in 0.04 s, without importing nltk) while the corpus files' contents, NLTK's version and this
module's CACHE_VERSION stay the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
import zlib
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

from .errors import CorpusNotFoundError, DataError, UsageError, first_line

Sentence = list[tuple[str, str]]

KNOWN_CORPORA = ("treebank", "brown", "conll2000", "indian", "mac_morpho", "cess_esp", "alpino")
SPLITS = ("train", "dev", "test", "all")
TAGSETS = ("native", "universal")
UNIVERSAL_SOURCE = {"treebank": "en-ptb", "conll2000": "en-ptb", "brown": "en-brown"}
PROJECT_DATA = Path(__file__).resolve().parent.parent / "corpora"
CACHE_VERSION = 4  # bump when _parse changes what it returns (2: cess_esp without *0*; 3: file parts; 4: incomplete sentences go whole)
SPLIT_BY_FILE = ("indian",)  # one language a file: each file is split 80/10/10, so dev and test hold all
EMPTY_ELEMENTS = {  # corpus -> is this (word, tag) an empty element, not a word of the text?
    "treebank": lambda word, tag: tag == "-NONE-",
    "cess_esp": lambda word, tag: word == "*0*",  # an elided subject, tagged sn.e-SUJ and the like
}


def nltk_data_paths() -> list[str]:
    """Where NLTK data is searched, in order: $NLTK_DATA, the project's corpora/, NLTK's paths."""
    import nltk

    ordered = [*_env_paths(), str(PROJECT_DATA), *nltk.data.path]
    return list(dict.fromkeys(ordered))


def _env_paths() -> list[str]:
    return [os.path.abspath(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]


def _use_paths() -> None:
    import nltk

    nltk.data.path[:] = nltk_data_paths()


def _how_to_get(name: str, resource: str | None = None) -> str:
    """How to get a missing NLTK package, naming the folders actually searched."""
    resource = resource or f"corpora/{name}"
    what = "corpus" if resource.startswith("corpora/") else "NLTK package"
    folder = _shown(PROJECT_DATA)
    linked = _linked_outside(resource)
    if linked is not None:
        return (f"{what} '{name}' is at {linked}, a link to {os.path.realpath(linked)}, which NLTK does not follow "
                f"out of its data folder; copy the file there instead of linking it")
    return (
        f"{what} '{name}' not found in NLTK_DATA, {folder} or NLTK's paths and could not be "
        f"downloaded; get it with: python -m nltk.downloader -d {folder} {name} "
        f"(or set NLTK_DATA to a folder holding {resource}.zip)"
    )


def _shown(path: Path) -> str:
    """path relative to the working directory when it lies inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


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
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:  # a zip NLTK cannot open
            raise DataError(_damaged(candidate, err)) from None
    return None


def _readable_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return False


def _damaged(resource: str, err: BaseException) -> str:
    """A one-line message for NLTK data that is there but cannot be read. resource: corpora/NAME
    or taggers/NAME (with .zip or without), named where it lies: the first zip that cannot be
    opened, else the first folder or zip found."""
    resource = resource.removesuffix(".zip")
    name = resource.rsplit("/", 1)[-1]
    found = [path for folder in nltk_data_paths() for path in (Path(folder) / resource, Path(folder) / f"{resource}.zip")
             if path.exists()]
    where = next((path for path in found if path.is_file() and not _readable_zip(path)), found[0] if found else None)
    if where is None:
        return f"{resource}: damaged ({first_line(err)}); get it again with: python -m nltk.downloader -d {_shown(PROJECT_DATA)} {name}"
    root = where.parents[len(Path(resource).parts) - 1]  # the NLTK data folder it lies in: searched before any later one
    return f"{where}: damaged ({first_line(err)}); delete it and get it again with: python -m nltk.downloader -d {_shown(root)} {name}"


def _require(resource_path: str, package: str, name: str) -> None:
    if _find(resource_path) is None and not (_download(package) and _find(resource_path)):
        raise CorpusNotFoundError(_how_to_get(name, resource_path))


def corpus_files(name: str) -> tuple[str, tuple[str, ...]]:
    """The NLTK corpus a name reads and the files it picks, if any: "indian:hindi.pos" ->
    ("indian", ("hindi.pos",)), "treebank" -> ("treebank", ())."""
    base, colon, listed = name.partition(":")
    files = tuple(dict.fromkeys(f.strip() for f in listed.split(","))) if colon else ()
    if colon and not (base and all(files)):
        raise UsageError(f"corpus {name!r}: name the corpus, then its files after the colon, as in indian:hindi.pos")
    return base, files


def canonical_name(name: str) -> str:
    """A name as it is recorded: its picked files without spaces or repeats (NAME:A,B)."""
    base, files = corpus_files(name)
    return f"{base}:{','.join(files)}" if files else name


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
def _load(name: str, tagset: str, keep_traces: bool) -> tuple[tuple[tuple[tuple[str, str], ...], ...], tuple[int, ...]]:
    """Every sentence of the corpus, and how many of them each of its parts holds (conll2000:
    train.txt and test.txt; SPLIT_BY_FILE corpora, or the files a name picks: each file; others:
    one part): from the cache when it holds a parse of the same files, else parsed by NLTK and
    then cached."""
    base, files = corpus_files(name)
    folder = cache_folder()
    plain = base.isidentifier() and all(re.fullmatch(r"[\w.-]+", f) for f in files)  # fit for a file name
    key = "".join([base, *(f"@{f}" for f in files)])
    if len(key) > 100:  # many files: a file name of their digest
        key = f"{base}@{hashlib.sha256(','.join(files).encode()).hexdigest()[:20]}"
    path = folder / f"{key}-{tagset}{'-traces' if keep_traces else ''}.json" if folder and plain else None
    found_here = _stamp(base, tagset, _find_here) if path else None  # without nltk, whose import takes 0.9 s
    cached = _read_cache(path, found_here) if found_here else None
    if cached is not None:
        return cached
    reader = _reader(base)
    _require(f"corpora/{base}", base, base)
    if tagset == "universal":
        _require("taggers/universal_tagset", "universal_tagset", "universal_tagset")
    stamp = _stamp(base, tagset, _find) if path else None
    cached = _read_cache(path, stamp) if stamp and stamp != found_here else None  # found in NLTK's own paths
    if cached is not None:
        return cached
    if _announce is not None:
        kept = f"kept in {folder} for next time" if folder and plain else "not kept: POSTAGGER_CACHE=off" if not folder else "not kept"
        _announce(f"parsing {name} with NLTK's reader ({kept})")
    parsed = _parse(reader, name, tagset, keep_traces)
    if stamp:
        _write_cache(path, stamp, *parsed)
    return parsed


_announce = None  # called with a message before a corpus is parsed (seconds, for brown), see announcing


@contextlib.contextmanager
def announcing(tell):
    """While in this context, tell(message) says when a corpus is parsed rather than read from
    the cache (the commands print it); tell None says nothing."""
    global _announce
    previous, _announce = _announce, tell
    try:
        yield
    finally:
        _announce = previous


# What NLTK's readers raise on data they cannot read: a damaged zip, bytes that are not text, a
# line not in the corpus's format (ValueError, and an IndexError or AssertionError in some readers).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, ValueError, IndexError, AssertionError)


def _parse(reader, name: str, tagset: str, keep_traces: bool) -> tuple[tuple, tuple[int, ...]]:
    from nltk.tag.mapping import map_tag

    name, files = corpus_files(name)
    try:
        if not hasattr(reader, "tagged_sents"):  # loads the corpus, now that it is there
            raise UsageError(f"corpus {name!r} has no tagged sentences; " + _unknown(name).split("; ")[1])
        if files:
            _check_files(reader, name, files)
            parts = [reader.tagged_sents(fileid) for fileid in files]
        elif name == "conll2000":
            parts = [reader.tagged_sents("train.txt"), reader.tagged_sents("test.txt")]
        elif name in SPLIT_BY_FILE:
            parts = [reader.tagged_sents(fileid) for fileid in reader.fileids()]
        else:
            parts = [reader.tagged_sents()]
        sentences = [s for part in parts for s in part]
    except LookupError:
        raise CorpusNotFoundError(_how_to_get(name)) from None
    except _UNREADABLE as err:  # a file inside it broken, or not in the reader's format
        raise DataError(_damaged(f"corpora/{name}", err)) from None
    part_of = [i for i, part in enumerate(parts) for _ in range(len(part))]  # of each sentence
    empty = EMPTY_ELEMENTS.get(name)
    if empty and not keep_traces:
        sentences = [[(w, t) for w, t in s if not empty(w, t)] for s in sentences]
    if tagset == "universal":
        source = UNIVERSAL_SOURCE[name]
        try:
            sentences = [[(w, map_tag(source, "universal", t)) for w, t in s] for s in sentences]
        except _UNREADABLE as err:
            raise DataError(_damaged("taggers/universal_tagset", err)) from None
    # a token without a word or a tag (indian's "word" with no _TAG) leaves its sentence incomplete: it goes whole
    clean = tuple(tuple(s) if all(w.strip() and t.strip() for w, t in s) else () for s in sentences)
    kept = [i for i, s in enumerate(clean) if s]
    sizes = [0] * len(parts)
    for i in kept:
        sizes[part_of[i]] += 1
    return tuple(clean[i] for i in kept), tuple(sizes)


def load_corpus(name: str, tagset: str = "native", split: str = "train", keep_traces: bool = False) -> list[Sentence]:
    """The sentences of one split of an NLTK corpus, as fresh lists of (word, tag) pairs."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if tagset not in TAGSETS:
        raise UsageError(f"unknown tagset {tagset!r}; choose native or universal")
    base, files = corpus_files(name)
    if tagset == "universal" and base not in UNIVERSAL_SOURCE:
        _reader(base)
        raise UsageError(
            f"NLTK has no universal mapping for {base}'s tags; use --tagset native "
            f"(universal works for {', '.join(UNIVERSAL_SOURCE)})"
        )
    sentences, sizes = _load(name, tagset, keep_traces)
    if split == "all":
        return [list(s) for s in sentences]
    if base == "conll2000" and not files:
        n_first = sizes[0]
        cut = int(0.9 * n_first)
        spans = [{"train": (0, cut), "dev": (cut, n_first), "test": (n_first, len(sentences))}[split]]
    else:  # 80/10/10 of each part in order: the whole corpus, or each file of SPLIT_BY_FILE corpora or picked
        spans = []
        for start, n in zip(accumulate((0, *sizes)), sizes):
            a, b = int(0.8 * n), int(0.9 * n)
            spans.append({"train": (start, start + a), "dev": (start + a, start + b), "test": (start + b, start + n)}[split])
    return [list(s) for start, end in spans for s in sentences[start:end]]


# ---------------------------------------------------------------- the cache of parsed corpora


def cache_folder() -> Path | None:
    """Where parsed corpora are kept: $POSTAGGER_CACHE, else $XDG_CACHE_HOME/postagger, else
    ~/.cache/postagger. POSTAGGER_CACHE=off turns the cache off."""
    chosen = os.environ.get("POSTAGGER_CACHE")
    if chosen:
        return None if chosen.lower() == "off" else Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "postagger"


def _find_here(path: str) -> str | None:
    """_find among $NLTK_DATA and corpora/ only, the first places searched, without nltk."""
    return next((found for found, root in _here(path) if _inside(found, root)), None)


def _here(resource: str):
    """(path, its root) of every file or folder for resource in $NLTK_DATA and corpora/."""
    for candidate in (resource, f"{resource}.zip"):
        for root in [*_env_paths(), str(PROJECT_DATA)]:
            found = os.path.join(root, candidate)
            if os.path.exists(found):
                yield found, root


def _inside(path: str, root: str) -> bool:
    """Whether path, its links followed, lies inside root: NLTK (3.10 on) reads nothing else."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


def _linked_outside(resource: str) -> str | None:
    """A file or folder for resource in $NLTK_DATA or corpora/ that is a link to outside it."""
    return next((found for found, root in _here(resource) if not _inside(found, root)), None)


def _stamp(name: str, tagset: str, find) -> dict | None:
    """What a parse depends on: the versions, and the name, size and CRC-32 of every file of the
    corpus (and of the universal mapping, for that tagset) as find(resource) locates them; None
    when one is not found. Contents, not modification times: a data folder copied or laid again
    keeps its parses (the CRC of all the corpora here, 14 MB, takes 15 ms)."""
    resources = [f"corpora/{name}"] + (["taggers/universal_tagset"] if tagset == "universal" else [])
    files = []
    for resource in resources:
        found = find(resource)
        if found is None:
            return None
        root = Path(found)
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file():
                files.append([path.relative_to(root.parent).as_posix(), path.stat().st_size, _crc32(path)])
    return {"version": CACHE_VERSION, "nltk": _nltk_version(), "files": files}


def _crc32(path: Path) -> int | None:
    crc = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
    except OSError:  # unreadable: no parse is kept for it (NLTK's reader will say why)
        return None
    return crc


def _nltk_version() -> str:
    """NLTK's version from its VERSION file: 0.1 ms, where importlib.metadata takes 20 ms."""
    from importlib.util import find_spec

    spec = find_spec("nltk")
    try:
        return Path(spec.origin).with_name("VERSION").read_text().strip()
    except (AttributeError, TypeError, OSError):  # no nltk, or no VERSION file
        return "unknown"


def _read_cache(path: Path, stamp: dict) -> tuple[tuple, tuple[int, ...]] | None:
    """The parse kept at path, or None when there is none, it is unreadable, or its stamp differs."""
    try:
        with open(path, encoding="utf-8") as f:
            kept = json.load(f)
        if kept["stamp"] != stamp:
            return None
        words, tags, lengths = kept["words"], kept["tags"], kept["lengths"]
        if len(words) != len(tags) or len(words) != sum(lengths):
            return None
        pairs = list(zip(words, tags))
        stops = list(accumulate(lengths))
        sizes = tuple(int(n) for n in kept["parts"])
        if sum(sizes) != len(lengths):
            return None
        return tuple(tuple(pairs[stop - n : stop]) for n, stop in zip(lengths, stops)), sizes
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, stamp: dict, sentences: tuple, sizes: tuple[int, ...]) -> None:
    """Keep a parse at path, written whole or not at all; a cache that cannot be written is skipped."""
    kept = {
        "stamp": stamp, "parts": list(sizes), "lengths": [len(s) for s in sentences],
        "words": [w for s in sentences for w, _ in s], "tags": [t for s in sentences for _, t in s],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with open(handle, "w", encoding="utf-8") as f:
            json.dump(kept, f, ensure_ascii=False)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _check_files(reader, name: str, files: tuple[str, ...]) -> None:
    known = reader.fileids()
    unknown = next((f for f in files if f not in known), None)
    if unknown is not None:
        listed = ", ".join(known[:12]) + (f" ... ({len(known)} files)" if len(known) > 12 else "")
        raise UsageError(f"corpus {name!r} has no file {unknown!r}; its files: {listed}")


def check_name(name: str) -> None:
    """A UsageError unless name is an NLTK corpus (and, when it is installed, names files it has),
    without parsing it."""
    base, files = corpus_files(name)
    reader = _reader(base)
    if files and _find(f"corpora/{base}") is not None:
        try:
            _check_files(reader, base, files)
        except LookupError:  # NLTK would not open it after all: loading it will say why
            pass
        except _UNREADABLE as err:
            raise DataError(_damaged(f"corpora/{base}", err)) from None


def corpus_status(name: str) -> dict:
    """Whether an NLTK corpus is installed and where, without loading it; with "error" when it
    is there but cannot be read."""
    try:
        path = _find(f"corpora/{corpus_files(name)[0]}")
    except DataError as err:
        return {"name": name, "found": True, "path": None, "error": str(err)}
    return {"name": name, "found": path is not None, "path": path}


def native_tagset_name(name: str) -> str | None:
    """NLTK's name for a corpus's tagset, where it has a universal mapping."""
    return UNIVERSAL_SOURCE.get(corpus_files(name)[0])


def universal_tag_mapping(source: str) -> dict[str, str]:
    """NLTK's table from a source tagset (en-ptb, en-brown, ...) to the universal tagset, read
    from its .map file: only the explicit entries, so that a tag it does not know is never
    turned into X silently (nltk.tag.mapping's own table is a defaultdict that does)."""
    import nltk

    _require("taggers/universal_tagset", "universal_tagset", "universal_tagset")
    try:
        text = nltk.data.load(f"taggers/universal_tagset/{source}.map", format="text")
        pairs = [line.split("\t") for line in text.splitlines() if line.strip()]
        return {fine: coarse for fine, coarse in pairs}
    except LookupError:
        raise UsageError(f"NLTK has no universal mapping for the tagset {source!r}") from None
    except _UNREADABLE as err:
        raise DataError(_damaged("taggers/universal_tagset", err)) from None
