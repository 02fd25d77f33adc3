"""RNNTagger: NLTK's TaggerI interface (tag, tag_sents, accuracy) on top of the numpy network.

In scikit-learn's manner, __init__ only stores its config, fit returns self, and what fit learns
ends in an underscore: vocabs_, tags_, params_, history_, dev_accuracy_.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections import Counter
from dataclasses import asdict, fields
from itertools import chain
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from . import model, persist
from .encoding import (PACKED_BATCH, PACKED_TOKENS, Encoder, encode_corpus, longest_first_batches, rare_word_dropout,
                       token_positions)
from .errors import ModelError, NotFittedError
from .persist import BEST, LEXICON, OPTIMIZER
from .train import Callback, TrainConfig, TrainState, checked_config, epoch_records, fit_params
from .vocab import N_SPECIAL, Vocab, group_column, normalise_all, reserved_tag

Tagged = list[tuple[str, str]]
_NONE = object()  # no such value (None may be one)
TAG_BATCH = 64  # sentences per padded tagging batch (gated cells): larger batches pad more; Elman cells pack PACKED_BATCH
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # of weights: trained float32, float64 computes as well


def build_vocabs(sentences: Sequence[Sequence[str]], features: Sequence[str], min_count: int) -> dict[str, Vocab]:
    """One vocabulary per input group: every training word, and the features seen min_count times."""
    groups = ("word", *features)
    counts = {g: Counter() for g in groups}
    word_counts = Counter(w for s in sentences for w in s)
    words = list(word_counts)
    normalised = normalise_all(words)
    for g in groups:
        for string, n in zip(group_column(g, words, normalised), word_counts.values()):
            counts[g][string] += n
    return {g: Vocab.from_counts(counts[g], 1 if g == "word" else min_count) for g in groups}


class RNNTagger:
    def __init__(self, config: TrainConfig | None = None, parallel: bool | None = None):
        """parallel: train the right-to-left lane and half of the input tables' updates in a
        second process (see train.fit_params), and tag with the two lanes of a bidirectional
        Elman network in two threads; None: each on two cores or more, training on Linux only,
        tagging while numpy's BLAS runs one thread (as postagger's commands set it). The weights
        and tags are the same either way (training's two processes use one BLAS thread each)."""
        self.config = config or TrainConfig()
        self.parallel = parallel
        self._encoder: Encoder | None = None
        self._lexicon: np.ndarray | None = None  # the encoder's word ids, saved with the model
        self._preactivations: _PreactivationCache | None = None
        self._words_lock = threading.Lock()  # callers in several threads add new words one at a time

    # ------------------------------------------------------------ training

    def fit(self, tagged_sents: Sequence[Tagged], dev_sents: Sequence[Tagged] | None = None,
            callback: Callback | None = None, resume: TrainState | None = None, on_epoch_saved=None) -> "RNNTagger":
        """Train on tagged_sents, keeping the best epoch on dev_sents. With resume (from
        load_checkpoint, which also restores the vocabularies), carry on where training stopped.
        If callback.stop() ends training early, state_.finished is False and save_checkpoint
        saves where it stands."""
        cfg = checked_config(self.config)
        tagged_sents = list(tagged_sents)  # read once: a generator would be empty the second time
        if cfg.max_sentences:
            tagged_sents = tagged_sents[: cfg.max_sentences]
        words = [[w for w, _ in s] for s in tagged_sents]
        tags = [[t for _, t in s] for s in tagged_sents]
        if not any(words):
            raise ValueError("no tagged tokens to train on")
        for kind, sentences in (("word", words), ("tag", tags)):  # a model.json keeps only strings
            odd = next((x for s in sentences for x in s if not isinstance(x, str)), _NONE)
            if odd is not _NONE:
                raise TypeError(f"every {kind} must be a string, not {type(odd).__name__} ({odd!r})")
        why = next(filter(None, map(reserved_tag, {t for s in tags for t in s})), None)
        if why:
            raise ValueError(why)
        if resume is not None and not hasattr(self, "vocabs_"):
            raise ValueError("fit(resume=) carries on a tagger from RNNTagger.load_checkpoint, not a new one")
        if resume is None:
            self.vocabs_ = build_vocabs(words, cfg.features, cfg.min_feature_count)
            self.tags_ = Vocab.from_counts(Counter(t for s in tags for t in s))
            self._lexicon = None
        self._encoder = None
        train = encode_corpus(self.encoder_, words, tags, self.tags_)
        if cfg.word_dropout > 0:
            train.drop_prob = rare_word_dropout(train, cfg.word_dropout)
        dev = None
        if dev_sents:
            dev = encode_corpus(self.encoder_, [[w for w, _ in s] for s in dev_sents],
                                [[t for _, t in s] for s in dev_sents], self.tags_)
        net = cfg.network({g: len(v) for g, v in self.vocabs_.items()}, len(self.tags_))
        params = model.init_params(net, np.random.default_rng(cfg.seed)) if resume is None else None
        side_by_side = self._lane_runner(params if resume is None else resume.params)  # for dev accuracy
        result = fit_params(params, train, dev, cfg, callback, resume, on_epoch_saved, parallel=self.parallel,
                            side_by_side=side_by_side)
        self.params_ = result.params
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.dev_accuracy_ = result.best_dev_accuracy
        self.state_ = result.state
        return self

    # ------------------------------------------------------------ tagging

    def _check_fitted(self, learned: str = "params_") -> None:
        if not hasattr(self, learned):
            raise NotFittedError("this RNNTagger is not trained: call fit, or RNNTagger.load a model")

    @property
    def encoder_(self) -> Encoder:
        """Words to input ids, with the vocabularies of fit or load (built on first use)."""
        self._check_fitted("vocabs_")  # fit encodes its sentences before it has weights
        if self._encoder is None:
            self._encoder = Encoder(self.vocabs_, self._lexicon)
        return self._encoder

    def predict_ids(self, sentences: Iterable[Sequence[str]], batch_size: int | None = None,
                    probabilities: bool = True) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per sentence: (tag ids, probability of each chosen tag, or None without
        probabilities). Sentences are tagged in batches of similar length; a word's input rows
        are summed once per tagger (see _PreactivationCache)."""
        best, probs, offsets = self.predict_flat(sentences, batch_size, probabilities)
        bounds = offsets.tolist()
        return [(best[a:b], None if probs is None else probs[a:b]) for a, b in zip(bounds, bounds[1:])]

    def predict_flat(self, sentences: Iterable[Sequence[str]], batch_size: int | None = None,
                     probabilities: bool = True) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """predict_ids for all tokens at once: the best tag id of every token, the sentences
        end to end (M,), each one's probability (M,) or None, and where each sentence starts in
        them (S + 1,), so that sentence i holds [offsets[i], offsets[i + 1])."""
        return self._predict_flat(_token_lists(sentences), batch_size, probabilities)

    def _predict_flat(self, sentences: list[Sequence[str]], batch_size: int | None,
                      probabilities: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        self._check_fitted()
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences)), out=offsets[1:])
        best = np.zeros(offsets[-1], dtype=np.int64)
        probs = np.zeros(offsets[-1], dtype=self.params_["Why"].dtype.newbyteorder("=")) if probabilities else None
        for positions, batch_best, batch_probs in self._predict_batches(sentences, offsets, batch_size, probabilities):
            best[positions] = batch_best
            if probs is not None:
                probs[positions] = batch_probs
        return best, probs, offsets

    def _predict_batches(self, sentences, offsets: np.ndarray, batch_size: int | None, probabilities: bool):
        """Per batch of non-empty sentences: the positions of its tokens among all tokens end to
        end (M_b,), their best tag ids (M_b,) and, when asked, each chosen tag's probability.

        Elman networks tag packed batches (model.predict_packed): no padding, so batches can be
        large. Gated cells tag padded batches of TAG_BATCH sentences of similar length."""
        with self._words_lock:  # the encoder and the cache grow with new words; the arrays handed out stay valid
            encoder = self.encoder_
            rows = encoder.place_quotes(encoder.token_rows(sentences), offsets, sentences)
            by_row, token_rows = self._input_preactivations(rows)  # (D, rows, F), (M,)
        packed = model.architecture(self.params_).cell == "rnn"
        batch_size = batch_size or (PACKED_BATCH if packed else TAG_BATCH)
        lengths = np.diff(offsets)
        side_by_side = self._lane_runner() if packed else None
        # longest first; long sentences make large packed batches: PACKED_TOKENS bounds their states' memory
        for index in longest_first_batches(lengths, batch_size, PACKED_TOKENS if packed else None):
            batch_lengths = lengths[index]
            positions = token_positions(offsets, index)
            if packed:
                rows = np.take(token_rows, positions)
                scores, row_of_token = model.predict_packed(self.params_, by_row, rows, batch_lengths, skip=N_SPECIAL,
                                                            side_by_side=side_by_side)
            else:
                mask = np.arange(batch_lengths.max()) < batch_lengths[:, None]  # (N, T)
                rows = np.zeros(mask.shape, dtype=np.intp)  # padding reads row 0: forward zeroes its input
                rows[mask] = np.take(token_rows, positions)
                scores = model.predict_scores(self.params_, {}, rows, mask.astype(np.int32), by_row, skip=N_SPECIAL)[mask]
                row_of_token = None  # the scores are in token order already
            best = scores.argmax(axis=-1)
            probs = None
            if probabilities:
                chosen = np.take_along_axis(scores, best[:, None], axis=-1)[:, 0]
                probs = 1.0 / np.exp(scores - chosen[:, None]).sum(axis=-1)  # softmax of the best tag
            if row_of_token is not None:
                best, probs = best[row_of_token], None if probs is None else probs[row_of_token]
            yield positions, best, probs

    def _lane_runner(self, params: dict[str, np.ndarray] | None = None):
        """How tagging runs a bidirectional network's lanes (params, by default params_): side by
        side in two threads (_side_by_side) when parallel is True, or None and there are two
        cores and numpy's BLAS runs one thread (more would overcommit the cores); else None, one
        after the other."""
        if model.architecture(self.params_ if params is None else params).directions != 2 or self.parallel is False:
            return None
        blas = _numpy_blas()  # none found: its threads are unknown, so one lane after the other
        if self.parallel or (_cores() >= 2 and blas and all(lib.num_threads == 1 for lib in blas)):
            return _side_by_side
        return None

    def _input_preactivations(self, token_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The input pre-activations of tokens given by their rows in the encoder's cache,
        through the pre-activation cache: a table (D, rows, F) and each token's row in it."""
        encoder = self.encoder_
        cache = self._preactivations
        if cache is None or cache.encoder is not encoder or cache.generation != encoder.generation:
            cache = self._preactivations = _PreactivationCache(encoder, self.params_)
        return cache.lookup(token_rows)

    def tag_sents(self, sentences: Iterable[Sequence[str]]) -> list[Tagged]:
        """[(word, tag), ...] per sentence; sentences: any iterable of token sequences, as for
        NLTK's TaggerI."""
        sentences = _token_lists(sentences)
        best, _, offsets = self._predict_flat(sentences, None, probabilities=False)
        return tagged_sentences(sentences, self.tags_.decode(best), offsets)

    def tag(self, tokens: Sequence[str]) -> Tagged:
        """[(word, tag), ...] for one sentence's tokens (a list, not a string)."""
        return self.tag_sents([tokens])[0]

    def accuracy(self, gold: Iterable[Tagged]) -> float:
        """The fraction of gold's tokens that get their gold tag, as NLTK's TaggerI.accuracy:
        gold is an iterable of tagged sentences [(word, tag), ...]."""
        gold = list(gold)
        tokens = sum(map(len, gold))
        if not tokens:
            raise ValueError("accuracy: gold holds no tagged tokens")
        tagged = self.tag_sents([[word for word, _ in s] for s in gold])
        pairs = zip(chain.from_iterable(gold), chain.from_iterable(tagged))
        return sum(gold_tag == tag for (_, gold_tag), (_, tag) in pairs) / tokens

    @property
    def classes_(self) -> list[str]:
        """The tags the tagger can predict, in index order."""
        return self.tags_.tokens

    def is_known(self, word: str) -> bool:
        """Whether the word was in the training data, as written or in another spelling
        (vocab.other_spellings: "(" for treebank's -LRB-): it has a word id of its own (the
        literal strings <pad> and <unk> name the reserved ids, not words)."""
        return self.encoder_.known_id(word) is not None

    # ------------------------------------------------------------ persistence

    def _meta(self, history, dev_accuracy, best_epoch, info: dict) -> dict:
        return {
            "config": asdict(self.config),
            "vocabularies": {g: v.to_list() for g, v in self.vocabs_.items()},
            "tags": self.tags_.to_list(),
            "dev_accuracy": dev_accuracy,
            "best_epoch": best_epoch,
            "history": _records(history),
            **info,
        }

    def save(self, folder: str | Path, **info) -> None:
        """Save weights.npz, model.json, history.json and lexicon.npz; info (corpus, tagset,
        split ...) is stored in model.json as given."""
        self._check_fitted()
        history = {"epochs": _records(self.history_), "best_epoch": self.best_epoch_}
        meta = self._meta(self.history_, self.dev_accuracy_, self.best_epoch_, info)
        persist.save_model(Path(folder), self.params_, meta, {persist.HISTORY: history, **self._lexicon_file()})

    def save_checkpoint(self, folder: str | Path, state: TrainState | None = None, **info) -> None:
        """Save unfinished training (state_, or state) so that load_checkpoint and fit(resume=)
        carry on exactly: the current and the best weights, the optimizer and the position."""
        state = state or self.state_
        meta = self._meta(state.history, state.best_dev_accuracy, state.best_epoch, info)
        meta["checkpoint"] = state.position()
        persist.save_model(Path(folder), state.params, meta, {BEST: state.best_params, OPTIMIZER: state.optimizer, **self._lexicon_file()})

    def _lexicon_file(self) -> dict:
        return {LEXICON: {"ids": self.encoder_.lexicon}}

    @classmethod
    def load_checkpoint(cls, folder: str | Path) -> tuple["RNNTagger", TrainState]:
        """A tagger with the vocabularies of a checkpoint, and the state to pass to fit(resume=)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: no such checkpoint folder (an interrupted `postagger train --out M` leaves M.checkpoint)")
        tagger = cls.load(folder)
        if "checkpoint" not in tagger.meta_:
            raise ModelError(f"{folder / persist.META}: not a checkpoint (no training position in it)")
        best = persist.load_arrays(folder / BEST)
        optimizer = persist.load_arrays(folder / OPTIMIZER)
        _check_training_arrays(tagger, best, optimizer, folder)
        try:
            state = TrainState.from_position(tagger.meta_["checkpoint"], tagger.params_, best, optimizer)
            if state.epoch > tagger.config.epochs and not state.finished:
                raise ValueError(f"epoch is {state.epoch}, after the last, {tagger.config.epochs}")
        except (TypeError, ValueError, AttributeError) as err:
            raise ModelError(f"{folder / persist.META}: malformed checkpoint ({err})") from None
        return tagger, state

    @classmethod
    def load(cls, folder: str | Path) -> "RNNTagger":
        folder = Path(folder)
        params, meta = persist.load_model(folder)
        where = folder / persist.META
        try:
            known = {f.name for f in fields(TrainConfig)}
            config = checked_config(TrainConfig(**{k: v for k, v in meta["config"].items() if k in known}))
            config.features = tuple(config.features)
            tagger = cls(config)
            vocabularies, groups = meta["vocabularies"], ("word", *config.features)
            if not isinstance(vocabularies, dict) or set(vocabularies) != set(groups) or len(set(groups)) != len(groups):
                raise ValueError(f"vocabularies {list(vocabularies)} are not those of the config's word and features {list(groups)}")
            tagger.vocabs_ = {g: Vocab.from_list(vocabularies[g]) for g in groups}  # in the lexicon's column order, whatever JSON's
            tagger.tags_ = Vocab.from_list(meta["tags"])
            tagger.dev_accuracy_ = meta.get("dev_accuracy")
            tagger.best_epoch_ = meta.get("best_epoch", 0)
            for name, value, kinds in (("dev_accuracy", tagger.dev_accuracy_, (int, float, type(None))),
                                       ("best_epoch", tagger.best_epoch_, (int,))):
                if isinstance(value, bool) or not isinstance(value, kinds):
                    raise ValueError(f"{name} is {value!r}")
            source = meta.get("source")  # what train recorded: file names, a corpus, flags
            if source is not None and not (isinstance(source, dict) and all(isinstance(v, (str, bool, type(None))) for v in source.values())):
                raise ValueError(f"source is {source!r}")
            tagger.history_ = epoch_records(meta.get("history", []))
            tagger.info_ = {k: meta.get(k) for k in ("corpus", "tagset", "split", "keep_traces")}
            for name, value in tagger.info_.items():
                if not isinstance(value, (bool, type(None)) if name == "keep_traces" else (str, type(None))):
                    raise ValueError(f"{name} is {value!r}")
            tagger.meta_ = {k: v for k, v in meta.items() if k != "vocabularies"}  # kept once, in vocabs_
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ModelError(f"{where}: malformed ({type(err).__name__}: {err})") from None
        _check_weights(params, tagger, folder)
        tagger.params_ = params
        tagger._lexicon = _read_lexicon(folder / LEXICON, tagger.vocabs_)
        return tagger


def tagged_sentences(sentences: Sequence[Sequence[str]], tags: Iterable[str], offsets: np.ndarray) -> list[Tagged]:
    """[(word, tag), ...] per sentence, from the tags of all tokens end to end; sentence i
    starts at offsets[i] (offsets: S + 1 bounds)."""
    pairs = list(zip(chain.from_iterable(sentences), tags))
    bounds = offsets.tolist()
    return [pairs[a:b] for a, b in zip(bounds, bounds[1:])]


def _token_lists(sentences: Iterable[Sequence[str]]) -> list[Sequence[str]]:
    """The sentences as a list, read once (batches index it); a sentence given as a string
    would be tagged character by character, so it is a TypeError, as in nltk.pos_tag."""
    sentences = list(sentences)
    if any(isinstance(sentence, str) for sentence in sentences):
        raise TypeError("a sentence must be a sequence of tokens, not a string: split it first (text.split())")
    return sentences


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_lane_tasks: queue.SimpleQueue | None = None  # (run, lane, done) for the lane threads


def _forget_lane_threads() -> None:
    """In a forked child: the parent's lane threads are not there, so the next batch starts some."""
    global _lane_tasks
    _lane_tasks = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_lane_threads)


def _lane_thread(tasks: queue.SimpleQueue) -> None:
    while True:
        run, lane, done = tasks.get()
        try:
            run(lane)
        except BaseException as err:  # the caller raises it
            done.put(err)
        else:
            done.put(None)


def _side_by_side(run, lanes: list) -> None:
    """run(lane) for every lane, the first in this thread and the others in lane threads: numpy
    releases the GIL in the lanes' products, tanh and gathers, so two lanes use two cores.

    The lane threads are daemons fed through SimpleQueues, whose put and get hold no lock a
    KeyboardInterrupt could leave taken: an interrupted caller raises at once (the lane it
    handed over finishes on arrays it holds), and nothing is waited for at exit."""
    global _lane_tasks
    tasks = _lane_tasks
    if tasks is None:  # two callers at once may start two sets of threads: both serve
        tasks = _lane_tasks = queue.SimpleQueue()
        for _ in range(max(1, _cores() - 1)):  # a thread for each other caller's second lane too
            threading.Thread(target=_lane_thread, args=(tasks,), name="postagger-lane", daemon=True).start()
    done: queue.SimpleQueue = queue.SimpleQueue()
    for lane in lanes[1:]:
        tasks.put((run, lane, done))
    run(lanes[0])
    for _ in lanes[1:]:
        error = done.get()
        if error is not None:
            raise error


@functools.cache
def _numpy_blas() -> list:
    """threadpoolctl's controllers of the BLAS numpy calls: its wheel's own (in numpy.libs, or
    numpy/.dylibs on macOS) when there is one, else every BLAS loaded."""
    from threadpoolctl import ThreadpoolController

    def numpy_own(path: Path) -> bool:
        return path.parent.name == "numpy.libs" or (path.parent.name == ".dylibs" and path.parent.parent.name == "numpy")

    blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    return [lib for lib in blas if numpy_own(Path(lib.filepath))] or blas


class _PreactivationCache:
    """The first-layer input pre-activation of every word an encoder has met, by its row in the
    encoder's cache: a word's input rows are summed once, not in every call (tagging a file in
    chunks, or sentence by sentence). Made for the weights of fit or load: changing params_ in
    place afterwards needs a new tagger. Past LIMIT_BYTES, rows are summed in every call."""

    LIMIT_BYTES = 256 * 2**20

    def __init__(self, encoder: Encoder, params: dict[str, np.ndarray]):
        self.encoder, self.generation, self.params = encoder, encoder.generation, params
        self.arch = model.architecture(params)
        D = self.arch.directions
        F = params[self.arch.input_key("word")].shape[1] // D
        self.table = np.zeros((D, 0, F), dtype=params["Why"].dtype)  # (D, capacity, F)
        self.filled = 0
        self.limit_rows = self.LIMIT_BYTES // (D * F * self.table.itemsize)

    def lookup(self, token_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(table (D, rows, F), each token's row in it) for tokens given by their rows in the
        encoder's cache."""
        size = self.encoder.size
        if size > self.limit_rows:  # this call's words only
            present, token_rows = np.unique(token_rows, return_inverse=True)
            ids = dict(zip(self.encoder.groups, self.encoder.ids_of_rows(present)))
            return model.input_preactivations(self.params, self.arch, ids), token_rows.reshape(-1)
        if size > self.filled:
            if size > self.table.shape[1]:
                grown = np.empty((self.table.shape[0], min(2 * size, self.limit_rows), self.table.shape[2]), self.table.dtype)
                grown[:, : self.filled] = self.table[:, : self.filled]
                self.table = grown
            new_ids = dict(zip(self.encoder.groups, self.encoder.table(self.filled, size)))
            model.input_preactivations(self.params, self.arch, new_ids, out=self.table[:, self.filled : size])
            self.filled = size
        return self.table, token_rows


def _records(history) -> list[dict]:
    return [r if isinstance(r, dict) else asdict(r) for r in history]


def _read_lexicon(path: Path, vocabs: dict[str, Vocab]) -> np.ndarray | None:
    """The lexicon of a model folder, checked against its vocabularies; None when the folder
    has none (saved before lexicons were kept: the encoder builds it)."""
    if not path.exists():
        return None
    rebuild = "delete it, and postagger rebuilds it from model.json"
    try:
        ids = persist.load_arrays(path).get("ids")
    except ModelError as err:
        raise ModelError(f"{err}; {rebuild}") from None
    sizes = np.array([len(v) for v in vocabs.values()])
    shape = (int(sizes[0]), len(sizes))
    if ids is None or ids.shape != shape or ids.dtype.kind not in "iu":
        raise ModelError(f"{path}: expected integer ids of shape {shape}, a row per word and a column per input "
                         f"group of model.json; {rebuild}")
    if not np.array_equal(ids[:, 0], np.arange(shape[0])) or ids.min() < 0 or (ids.max(axis=0) >= sizes).any():
        raise ModelError(f"{path}: ids that do not match model.json's vocabularies; {rebuild}")
    return ids


def _check_weights(params: dict[str, np.ndarray], tagger: RNNTagger, folder: Path) -> None:
    """The weights must form a network whose tables match model.json's vocabularies and tags:
    every array of the shape the network needs, all of one float dtype, and finite. Checked at
    load, so that damaged weights fail here with the file's name, not later while tagging."""
    weights = folder / persist.WEIGHTS
    try:
        arch = model.architecture(params)
    except ValueError as err:
        raise ModelError(f"{weights}: {err}") from None
    if set(arch.groups) != set(tagger.vocabs_):
        raise ModelError(f"{folder}: weights have input groups {list(arch.groups)}, model.json has {list(tagger.vocabs_)}")
    cfg = tagger.config
    for name, said, found in (("cell", cfg.cell, arch.cell), ("layers", cfg.layers, arch.layers),
                              ("hidden", cfg.hidden, arch.hidden), ("bidirectional", cfg.bidirectional, arch.directions == 2)):
        if said != found:
            raise ModelError(f"{folder}: model.json's config has {name} {said!r}, the weights {found!r}")
    sizes, n_tags = {g: len(tagger.vocabs_[g]) for g in arch.groups}, len(tagger.tags_)
    sources = {arch.input_key(g): f" for model.json's {g} vocabulary of {n}" for g, n in sizes.items()}
    sources["Why"] = sources["by"] = f" for model.json's {n_tags} tags"
    for key, shape in model.param_shapes(arch, sizes, n_tags).items():
        if params[key].shape != shape:
            raise ModelError(f"{weights}: {key} has shape {params[key].shape} but the network needs {shape}{sources.get(key, '')}")
    dtypes = {key: value.dtype.newbyteorder("=") for key, value in params.items()}  # a model of the other byte order tags too
    common = Counter(dtypes.values()).most_common(1)[0][0]
    for key, dtype in dtypes.items():
        if dtype not in FLOAT_DTYPES:
            raise ModelError(f"{weights}: {key} is {dtype.name}, not float32 or float64")
        if dtype != common:
            raise ModelError(f"{weights}: {key} is {dtype.name}, the other weights {common.name}")
    for key, value in params.items():
        if not _all_finite(value):
            raise ModelError(f"{weights}: {key} holds NaN or infinite values")


def _check_training_arrays(tagger: RNNTagger, best: dict[str, np.ndarray], optimizer: dict[str, np.ndarray],
                           folder: Path) -> None:
    """A checkpoint's best weights must be shaped as its weights, and its optimizer state be
    what a training of its config holds (train.optimizer_slots): a step count, then every slot
    of the shape and dtype its weight needs; all finite. A ModelError names the file and array."""
    from .train import optimizer_slots

    params = tagger.params_
    if set(best) != set(params):
        raise ModelError(f"{folder / BEST}: holds {sorted(best)}, the weights {sorted(params)}")
    _check_like(folder / BEST, best, {key: (value.shape, value.dtype) for key, value in params.items()})
    where = folder / OPTIMIZER
    steps = optimizer.get("steps")
    if steps is None or steps.shape != () or steps.dtype.kind not in "iu" or int(steps) < 0:
        raise ModelError(f"{where}: no step count (steps)")
    slots = optimizer_slots(tagger.config, params)
    held = {key: value for key, value in optimizer.items() if key != "steps"}
    extra, missing = sorted(set(held) - set(slots)), sorted(set(slots) - set(held))
    if extra or (int(steps) > 0 and missing):
        raise ModelError(f"{where}: {'holds' if extra else 'lacks'} {', '.join(extra or missing)} "
                         f"for the checkpoint's {tagger.config.optimizer} optimizer")
    _check_like(where, held, {key: (shape, params[key.rsplit("/", 1)[0]].dtype) for key, shape in slots.items()})


def _check_like(where: Path, arrays: dict[str, np.ndarray], expected: dict[str, tuple]) -> None:
    """Every array of the (shape, dtype) expected for its key, and finite; else a ModelError."""
    for key in sorted(arrays):
        value, (shape, dtype) = arrays[key], expected[key]
        if value.shape != shape or value.dtype != dtype:
            raise ModelError(f"{where}: {key} is {value.dtype.name} {value.shape}, not {np.dtype(dtype).name} {shape}")
        if not _all_finite(value):
            raise ModelError(f"{where}: {key} holds NaN or infinite values")


def _all_finite(values: np.ndarray) -> bool:
    """Whether no value is NaN or infinite: either reaches the min or the max. Two reductions
    allocate nothing; np.isfinite's mask made loading 4 ms slower, these 1.5 ms of about 26."""
    return values.size == 0 or bool(np.isfinite(values.min()) and np.isfinite(values.max()))
