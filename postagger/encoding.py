"""Sentences -> index arrays for every input group, and padded batches grouped by length.

A corpus is encoded once into flat arrays (all sentences end to end, G groups x tokens); a batch
gathers N sentences into padded (N, T) arrays with a 0/1 mask. Padding uses PAD_ID = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .vocab import PAD_ID, UNK_ID, Vocab, extractor


class Encoder:
    """Token strings -> ids in every input group, caching the ids of each word type."""

    def __init__(self, vocabs: dict[str, Vocab]):
        if next(iter(vocabs), None) != "word":
            raise ValueError('the first input group must be "word"')
        self.vocabs = vocabs
        self.groups = tuple(vocabs)
        self._extract = [extractor(g) for g in self.groups]
        self._cache: dict[str, tuple[int, ...]] = {}

    def token_ids(self, word: str) -> tuple[int, ...]:
        ids = self._cache.get(word)
        if ids is None:
            ids = tuple(v.index(f(word)) for v, f in zip(self.vocabs.values(), self._extract))
            if len(self._cache) < 1_000_000:
                self._cache[word] = ids
        return ids

    def encode(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """All tokens of all sentences, end to end: (G, total tokens) int32."""
        cache = self._cache
        rows = [cache[w] if w in cache else self.token_ids(w) for s in sentences for w in s]
        if not rows:
            return np.zeros((len(self.groups), 0), dtype=np.int32)
        return np.array(rows, dtype=np.int32).T.copy()


@dataclass
class EncodedCorpus:
    """Sentences as flat arrays. Sentence i holds tokens offsets[i]:offsets[i+1]."""

    ids: np.ndarray  # (G, n_tokens) int32
    offsets: np.ndarray  # (S + 1,) int64
    groups: tuple[str, ...]
    tags: np.ndarray | None = None  # (n_tokens,) int32
    drop_prob: np.ndarray | None = None  # (n_tokens,) chance that word dropout hides the token

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])


def encode_corpus(
    encoder: Encoder,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None = None,
    tag_vocab: Vocab | None = None,
) -> EncodedCorpus:
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum([len(s) for s in sentences], out=offsets[1:])
    tag_ids = None
    if tags is not None:
        tag_ids = np.array([tag_vocab.index(t) for s in tags for t in s], dtype=np.int32)
    return EncodedCorpus(encoder.encode(sentences), offsets, encoder.groups, tag_ids)


def rare_word_dropout(corpus: EncodedCorpus, alpha: float) -> np.ndarray:
    """Per-token chance alpha / (alpha + count(word)) of hiding the word: rare words are hidden
    most often, so that the UNK row learns what unseen words look like."""
    word_ids = corpus.ids[0]
    counts = np.bincount(word_ids)
    return (alpha / (alpha + counts[word_ids])).astype(np.float32)


@dataclass
class Batch:
    inputs: dict[str, np.ndarray]  # group -> ids (N, T)
    mask: np.ndarray  # (N, T) 0/1
    tags: np.ndarray | None  # (N, T)
    index: np.ndarray  # (N,) sentence numbers in the corpus

    @property
    def n_tokens(self) -> int:
        return int(self.mask.sum())


# Groups that name the whole word: word dropout hides them together.
WHOLE_WORD_GROUPS = ("word", "lower")


def make_batch(
    corpus: EncodedCorpus,
    index: np.ndarray,
    rng: np.random.Generator | None = None,
) -> Batch:
    """Pad the sentences `index` into (N, T) arrays. With an rng and corpus.drop_prob, replace
    whole-word ids by UNK at random (word dropout)."""
    starts, lengths = corpus.offsets[index], corpus.lengths[index]
    T = int(lengths.max()) if len(index) else 0
    steps = np.arange(T)
    mask = steps[None, :] < lengths[:, None]  # (N, T)
    positions = (starts[:, None] + steps[None, :])[mask]
    ids = np.zeros((len(corpus.groups), len(index), T), dtype=np.int32)
    ids[:, mask] = corpus.ids[:, positions]
    if rng is not None and corpus.drop_prob is not None:
        hide = np.zeros_like(mask)
        hide[mask] = rng.random(len(positions)) < corpus.drop_prob[positions]
        for g, group in enumerate(corpus.groups):
            if group in WHOLE_WORD_GROUPS:
                ids[g][hide] = UNK_ID
    tags = None
    if corpus.tags is not None:
        tags = np.full((len(index), T), PAD_ID, dtype=np.int32)
        tags[mask] = corpus.tags[positions]
    inputs = dict(zip(corpus.groups, ids))
    return Batch(inputs, mask.astype(np.int32), tags, np.asarray(index))


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Sentence numbers in batches of similar length. With an rng, sentences of equal length are
    shuffled and so is the order of the batches; without one the order is fixed."""
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.lexsort((rng.random(len(lengths)), lengths))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
