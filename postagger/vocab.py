"""Vocabularies (string <-> index, with PAD and UNK) and the one-hot input groups built from words.

Each input group maps a token to one string: the word itself, its lower-cased form, a suffix, a
prefix or its shape. Each group has its own Vocab and its own input table in the model.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property
from operator import itemgetter
from typing import Iterable, Sequence

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
N_SPECIAL = 2  # PAD and UNK head every vocabulary; a tagger never predicts them


def reserved_tag(tag: str) -> str | None:
    """Why a tag cannot be learned, when it names PAD or UNK (it would be read as padding, or as
    no tag); None for any other tag."""
    if tag in (PAD, UNK):
        return f"the tag {tag!r} is one postagger keeps for itself ({PAD} pads, {UNK} stands for what it does not know); rename it"
    return None


class Vocab:
    """Index <-> string. Index 0 is PAD and index 1 is UNK; the rest follow in the given order.

    Only the string -> index dict is stored (its order is the index order). A dict of strings
    and ints is not tracked by Python's garbage collector, whereas a list of 10,000 strings is
    walked by every collection of its generation: a freshly loaded tagger's first tag_sents
    on treebank test paid about 0.6 ms for that."""

    def __init__(self, tokens: Iterable[str] = ()):
        self.stoi: dict[str, int] = {PAD: PAD_ID, UNK: UNK_ID}
        for token in tokens:
            self.stoi.setdefault(token, len(self.stoi))

    @property
    def itos(self) -> list[str]:
        """Every token in index order (a new list: for display; decode maps many ids)."""
        return self.to_list()

    @property
    def tokens(self) -> list[str]:
        """The tokens after PAD and UNK, in index order (for a tag vocabulary: the tags)."""
        return self.to_list()[N_SPECIAL:]

    @classmethod
    def from_counts(cls, counts: Counter, min_count: int = 1) -> "Vocab":
        """Tokens seen at least min_count times, most frequent first, ties in string order."""
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.stoi)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def index(self, token: str) -> int:
        return self.stoi.get(token, UNK_ID)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        return [self.stoi.get(t, UNK_ID) for t in tokens]

    @cached_property
    def _itos_array(self) -> np.ndarray:
        return np.array(list(self.stoi), dtype=object)  # an object array: not walked by the garbage collector

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        return self._itos_array.take(np.asarray(ids, dtype=np.intp)).tolist()  # a gather of string references

    def to_list(self) -> list[str]:
        """Every token in index order, PAD and UNK included (what model.json stores)."""
        return list(self.stoi)

    @classmethod
    def from_list(cls, itos: list[str]) -> "Vocab":
        if itos[:N_SPECIAL] != [PAD, UNK] or len(set(itos)) != len(itos) or not all(isinstance(s, str) for s in itos):
            raise ValueError("a vocabulary list must hold strings, start with PAD, UNK and hold no duplicates")
        return cls(itos[N_SPECIAL:])


# ---------------------------------------------------------------- input groups

# The Penn Treebank's spellings (treebank, conll2000) of brackets, slashes and asterisks, which
# tokenizers and most other corpora leave as they are: ( is -LRB-, 1/2 is 1\/2, * is \*.
_TREEBANK_BRACKETS = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}
# Besides, quotes, ellipses and dashes: typographic, as the Penn Treebank writes them (`` '' ...
# --), and as plain text and Universal Dependencies do ("), the likelier first.
_OTHER_SPELLINGS = {
    **{plain: (escaped,) for plain, escaped in _TREEBANK_BRACKETS.items()},
    **{escaped: (plain,) for plain, escaped in _TREEBANK_BRACKETS.items()},
    "“": ("``", '"'), "„": ("``", '"'), "«": ("``", '"'), "”": ("''", '"'), "»": ("''", '"'),
    "‘‘": ("``", '"', "“"), "’’": ("''", '"', "”"),
    "‘": ("`",), "’": ("'",), "…": ("...",), "—": ("--",), "–": ("--",),
    "``": ('"', "“"), "''": ('"', "”"), "`": ("‘",), "...": ("…",), "--": ("—",),
    '"': ("''", "``"),  # a lone " closes a quote; Encoder.place_quotes reads a sentence's by place
}


def other_spellings(word: str) -> tuple[str, ...]:
    """The word as other conventions write it, the likelier first: the Penn Treebank's escapes
    (-LRB- for "(", 1\\/2 for "1/2") and plain forms, straight and curly quotes and apostrophes
    (`` for “, 's for ’s), and back; () when there is none. A tagger trained on one convention
    reads a word it does not know in another as the word it knows."""
    if word in _OTHER_SPELLINGS:
        return _OTHER_SPELLINGS[word]
    if "\\/" in word or "\\*" in word:
        return (word.replace("\\/", "/").replace("\\*", "*"),)
    if "/" in word or "*" in word:
        return (word.replace("/", "\\/").replace("*", "\\*"),)
    if "’" in word:
        return (word.replace("’", "'"),)
    if "'" in word:
        return (word.replace("'", "’"),)
    return ()


_DIGITS = re.compile(r"\d")


def normalise(word: str) -> str:
    """Lower-case, every digit as 0: 1984 and 2001 share one row."""
    lower = word.lower()
    return lower if lower.isalpha() else _DIGITS.sub("0", lower)


def _joined_ascii(words: Sequence[str]) -> bytes | None:
    """The words joined by newlines, as bytes, when all are ASCII and none holds a newline (so
    that a column of words can be processed in one pass and split back); else None."""
    joined = "\n".join(words)
    if not joined.isascii() or joined.count("\n") != len(words) - 1:
        return None
    return joined.encode()


def normalise_all(words: Sequence[str]) -> list[str]:
    """[normalise(w) for w in words]; ASCII words are lower-cased and their digits translated all
    at once, joined by newlines (twice as fast)."""
    joined = _joined_ascii(words)
    if joined is None:
        return [normalise(w) for w in words]
    return joined.lower().translate(_ASCII_DIGITS_AS_0).decode().split("\n")


_ASCII_DIGITS_AS_0 = bytes.maketrans(b"0123456789", b"0" * 10)

_ASCII_CLASSES = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", b"X" * 26 + b"x" * 26 + b"d" * 10
)
_REPEATED = re.compile(r"(.)(?=\1)")  # a character that the next one repeats


_COLLAPSED: dict[bytes, str] = {}  # class string -> shape; few distinct ones, and the regex is slow


def shape(word: str) -> str:
    """Capitalisation, digit and punctuation shape with runs collapsed: Mr. -> Xx., 3-D -> d-X."""
    if word.isascii():
        classes = word.encode().translate(_ASCII_CLASSES)  # bytes.translate: a C table lookup
        return _COLLAPSED.get(classes) or _collapse(classes)
    return shape_by_characters(word)


def shapes(words: Sequence[str]) -> list[str]:
    """[shape(w) for w in words], ASCII words translated all at once, joined by newlines."""
    joined = _joined_ascii(words)
    if joined is None:
        return [shape(w) for w in words]
    classes = joined.translate(_ASCII_CLASSES).split(b"\n")
    return [_COLLAPSED.get(c) or _collapse(c) for c in classes]


def _collapse(classes: bytes) -> str:
    """The shape of a class string (X, x, d or the character itself), memoised in _COLLAPSED."""
    if len(_COLLAPSED) > 100_000:
        _COLLAPSED.clear()
    collapsed = _COLLAPSED[classes] = _REPEATED.sub("", classes.decode())[:8]
    return collapsed


def shape_by_characters(word: str) -> str:
    """shape's definition, one character at a time (its path for non-ASCII words)."""
    out = []
    for ch in word:
        cls = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != cls:
            out.append(cls)
    return "".join(out)[:8]


def group_column(group: str, words: Sequence[str], normalised: Sequence[str]) -> Sequence[str]:
    """The string each word contributes to an input group, given the words and their normalised
    forms: the word itself (word), its normalised form (lower), its shape, or the last or first
    N characters of its normalised form (sufN, preN)."""
    if group == "word":
        return words
    if group == "lower":
        return normalised
    if group == "shape":
        return shapes(words)
    match = re.fullmatch(r"(suf|pre)([1-9])", group)
    if not match:
        raise ValueError(f"unknown input group {group!r}; use word, lower, shape, suf1-9 or pre1-9")
    n = int(match[2])
    cut = slice(-n, None) if match[1] == "suf" else slice(None, n)
    return list(map(itemgetter(cut), normalised))  # faster than a list comprehension of slices
