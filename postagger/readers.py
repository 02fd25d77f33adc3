"""Tagged sentences from the user's own files, in three formats:

    conllu   CoNLL-U: 10 tab-separated columns, `#` comments, a blank line after each sentence.
             Multiword ranges (3-4) and empty nodes (5.1) are skipped. The tag is UPOS (column 4)
             or XPOS (column 5).
    tagged   one sentence per line of word/TAG tokens, split at the last `/` as NLTK's
             TaggedCorpusReader does. Tags keep their case (NLTK's str2tuple upper-cases them).
    tsv      word<TAB>tag per line, a blank line between sentences. A first non-blank line that
             names the columns (word or token, then tag or pos, say) is a header and is skipped.

Anything malformed raises a DataError naming the file and line; reading never fails otherwise.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

from .errors import DataError, UsageError, reason
from .vocab import reserved_tag

Sentence = list[tuple[str, str]]
FORMATS = ("conllu", "tagged", "tsv")
COLUMNS = {"upos": 3, "xpos": 4}
EXTENSIONS = {".conllu": "conllu", ".conll": "conllu", ".tsv": "tsv", ".tab": "tsv",
              ".txt": "tagged", ".pos": "tagged", ".tagged": "tagged"}


def guess_format(path: str | Path) -> str:
    """The format a file's extension names; a UsageError when it names none."""
    if str(path) == "-":
        raise UsageError("stdin (-) has no extension to tell its format by; pass --format conllu|tagged|tsv")
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise UsageError(f"{path}: cannot tell the format from the extension ({known}); pass --format conllu|tagged|tsv")
    return fmt


def read_tagged_file(path: str | Path, fmt: str | None = None, column: str = "upos") -> list[Sentence]:
    """The sentences of a tagged file. fmt None guesses it from the extension."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if column not in COLUMNS:
        raise UsageError(f"unknown column {column!r}; choose upos or xpos")
    lines = read_lines(path)
    path = "<stdin>" if str(path) == "-" else path  # as errors name it
    if fmt == "conllu":
        sentences = list(_conllu(lines, path, COLUMNS[column], column.upper()))
    elif fmt == "tsv":
        sentences = list(_tsv(lines, path))
    else:
        sentences = list(_tagged(lines, path))
    if not sentences:
        if path == "<stdin>":
            raise DataError(f"<stdin>: no sentences found (empty, or not {fmt}?)")
        if Path(path).stat().st_size == 0:
            raise DataError(f"{path}: empty file")
        raise DataError(f"{path}: no sentences found (is it really {fmt}?)")
    return sentences


def format_tagged(tokens: list[str], tags: list[str], probs: list[float] | None, fmt: str, upos: bool = False,
                  sent_id: int | None = None) -> str:
    """One tagged sentence as the tag command writes it: text (word/TAG, a line), json (an
    object, a line), tsv or conllu (a block of lines; the tags in UPOS when upos, else XPOS,
    after `# sent_id =` and `# text =` when sent_id is given and there are tokens: CoNLL-U's
    text must be what its words spell, so the tokens joined by spaces).
    probs, when given, add each tag's probability: word/TAG/P, a third TSV column, or prob=P
    in CoNLL-U's MISC column (the only one of these the readers read back)."""
    if fmt == "json":
        record = {"tokens": tokens, "tags": tags}
        if probs is not None:
            record["probs"] = [round(float(p), 4) for p in probs]
        return json.dumps(record, ensure_ascii=False)
    if fmt == "text" and probs is None:
        return " ".join(map("/".join, zip(tokens, tags)))
    extra = [f"{p:.4f}" for p in probs] if probs is not None else [None] * len(tokens)
    if fmt == "text":
        return " ".join(f"{w}/{t}" + (f"/{e}" if e else "") for w, t, e in zip(tokens, tags, extra))
    if fmt == "tsv":
        return "".join(f"{w}\t{t}" + (f"\t{e}" if e else "") + "\n" for w, t, e in zip(tokens, tags, extra))
    rows = [
        f"{i}\t{w}\t_\t" + (f"{t}\t_" if upos else f"_\t{t}") + "\t_\t_\t_\t_\t" + (f"prob={e}" if e else "_")
        for i, (w, t, e) in enumerate(zip(tokens, tags, extra), 1)
    ]
    if tokens and sent_id is not None:
        rows[:0] = [f"# sent_id = {sent_id}", f"# text = {' '.join(tokens)}"]
    return "".join(row + "\n" for row in rows)


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) of a file, or of stdin for "-", decoding
    UTF-8 line by line so that a bad byte is reported with its line."""
    import sys

    if str(path) == "-":
        yield from _decoded(sys.stdin.buffer, "<stdin>")
        return
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise UsageError(f"{path}: permission denied") from None
    except OSError as err:  # a file where a folder should be, a name too long, a loop of links, ...
        raise UsageError(f"{path}: cannot open ({reason(err)})") from None
    with handle:
        yield from _decoded(handle, path)


def _decoded(handle, name) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(handle, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DataError(f"{name}:{number}: not valid UTF-8 (byte {err.start + 1} of the line)") from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        text = text.rstrip("\r\n")
        if "\r" in text:
            raise DataError(f"{name}:{number}: a carriage return inside the line (lines ending in CR alone? "
                            f"convert them to LF)")
        if "\0" in text:  # valid UTF-8, but no text has it
            raise DataError(f"{name}:{number}: a NUL byte (character {text.index(chr(0)) + 1} of the line): a binary file, "
                            "or UTF-16? postagger reads UTF-8 text")
        yield number, text


def _blocks(lines) -> Iterator[list[tuple[int, str]]]:
    """The (number, line) pairs of each blank-line-separated block: a sentence of a column file."""
    block: list[tuple[int, str]] = []
    for number, line in lines:
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


_WORD_ID, _OTHER_ID = re.compile(r"[1-9][0-9]*"), re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")


def _shown(text: str, limit: int = 60) -> str:
    """text for an error message, cut short when long (a line of a minified file, say)."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _checked_tag(tag: str, path, number: int) -> str:
    if why := reserved_tag(tag):
        raise DataError(f"{path}:{number}: {why}")
    return tag


def _conllu(lines, path, index: int, name: str) -> Iterator[Sentence]:
    for block in _blocks(lines):
        sentence = []
        for number, line in block:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise DataError(f"{path}:{number}: expected 10 tab-separated CoNLL-U columns, found {len(cols)}")
            token_id, form, tag = cols[0], cols[1], cols[index].strip()
            if _OTHER_ID.fullmatch(token_id):  # multiword range or empty node
                continue
            if not _WORD_ID.fullmatch(token_id):
                raise DataError(f"{path}:{number}: {_shown(token_id)} is not a CoNLL-U word id (1, 2, ..., or 1-2, 1.1)")
            if int(token_id) != len(sentence) + 1:
                missing = "; is a blank line missing before it?" if token_id == "1" else ""
                raise DataError(f"{path}:{number}: word id {token_id} where {len(sentence) + 1} should come{missing}")
            if not form or form.isspace():
                raise DataError(f"{path}:{number}: empty word form")
            if not tag or tag == "_":
                other = "xpos" if name == "UPOS" else "upos"
                there = cols[COLUMNS[other]].strip() not in ("", "_")
                hint = f" (it has an {other.upper()} tag: use --column {other})" if there else ""
                raise DataError(f"{path}:{number}: no {name} tag for {_shown(form)}{hint}")
            sentence.append((form, _checked_tag(tag, path, number)))
        if sentence:  # a block of comments only is no sentence
            yield sentence


# Names of a TSV file's columns in a header line (compared lower-cased): no real token is such a
# word with such a tag (Penn's tag POS marks only 's and ').
TSV_WORD_COLUMNS = ("word", "words", "token", "tokens", "form", "text")
TSV_TAG_COLUMNS = ("tag", "tags", "pos", "upos", "xpos", "postag", "pos_tag", "label")


def _tsv(lines, path) -> Iterator[Sentence]:
    first, header, sentences = True, None, 0
    for block in _blocks(lines):
        sentence = []
        for number, line in block:
            cols = line.split("\t")
            if len(cols) != 2:
                raise DataError(f"{path}:{number}: expected 2 tab-separated columns (word, tag), found {len(cols)}")
            word, tag = cols[0].strip(), cols[1].strip()
            if not word or not tag:
                raise DataError(f"{path}:{number}: empty {'word' if not word else 'tag'}")
            if first and word.lower() in TSV_WORD_COLUMNS and tag.lower() in TSV_TAG_COLUMNS:
                first, header = False, number
                continue
            first = False
            sentence.append((word, _checked_tag(tag, path, number)))
        if sentence:  # a header alone is no sentence
            sentences += 1
            yield sentence
    if header is not None and not sentences:
        raise DataError(f"{path}:{header}: a header line and no sentences after it")


def _tagged(lines, path) -> Iterator[Sentence]:
    for number, line in lines:
        tokens = line.split()
        if not tokens:
            continue
        sentence = []
        for token in tokens:
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise DataError(f"{path}:{number}: token {_shown(token)} is not word/TAG")
            sentence.append((word, _checked_tag(tag, path, number)))
        yield sentence
