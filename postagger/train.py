"""The training loop: minibatches grouped by length, shuffled by seed, dev accuracy every epoch,
the best weights on dev kept.

Every random choice of epoch e (batch order, word dropout, dropout masks) comes from
np.random.default_rng([seed, e]), so that the same seed gives the same weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import model
from .encoding import EncodedCorpus, length_batches, make_batch
from .optim import make_optimizer

DEFAULT_FEATURES = ("lower", "suf1", "suf2", "suf3", "suf4", "pre1", "pre2", "pre3", "shape")


@dataclass
class TrainConfig:
    """Every choice a user makes when training a tagger; saved in model.json."""

    features: tuple[str, ...] = DEFAULT_FEATURES  # one-hot input groups besides the word
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = True
    cell: str = "rnn"
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 4e-3
    rowwise_adam: bool = True  # Adam keeps one second moment per input-table row, not per entry
    lr_decay: float = 0.8  # the learning rate is multiplied by this after every epoch
    clip: float = 5.0  # global gradient norm; 0 turns clipping off
    dropout: float = 0.0  # on the states each layer passes on
    word_dropout: float = 1.0  # alpha: a word seen c times is hidden with chance alpha/(alpha+c)
    min_feature_count: int = 1  # rarer suffixes, prefixes and shapes share the UNK row
    patience: int = 0  # stop after this many epochs without a better dev accuracy; 0 never stops
    seed: int = 0
    max_sentences: int | None = None  # train on the first N training sentences only


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    dev_accuracy: float | None
    tokens_per_s: float
    seconds: float
    lr: float


class Callback:
    """Hooks for progress display. The loop stops after the current batch when stop() is true."""

    def on_epoch_start(self, epoch: int, n_batches: int) -> None: ...
    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None: ...
    def on_epoch_end(self, record: EpochRecord) -> None: ...
    def stop(self) -> bool:
        return False


def accuracy(params: dict[str, np.ndarray], corpus: EncodedCorpus, batch_size: int = 256, skip: int = 2) -> float:
    """Token accuracy of the network on an encoded, tagged corpus."""
    correct = 0
    for index in length_batches(corpus.lengths, batch_size):
        batch = make_batch(corpus, index)
        predicted = model.predict(params, batch.inputs, batch.tokens, batch.mask, skip=skip)
        correct += int(((predicted == batch.tags) & (batch.mask == 1)).sum())
    return correct / max(corpus.n_tokens, 1)


@dataclass
class TrainResult:
    params: dict[str, np.ndarray]  # the best weights on dev (the last ones without dev)
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_accuracy: float | None = None


def fit_params(
    params: dict[str, np.ndarray],
    train: EncodedCorpus,
    dev: EncodedCorpus | None,
    cfg: TrainConfig,
    callback: Callback | None = None,
) -> TrainResult:
    """Train params in place for cfg.epochs epochs; return the best weights on dev."""
    callback = callback or Callback()
    options = {"rowwise": True} if cfg.optimizer == "adam" and cfg.rowwise_adam else {}
    optimizer = make_optimizer(cfg.optimizer, cfg.lr, cfg.clip, **options)
    result = TrainResult(params={k: v.copy() for k, v in params.items()})
    since_best = 0
    for epoch in range(1, cfg.epochs + 1):
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = length_batches(train.lengths, cfg.batch_size, rng)
        callback.on_epoch_start(epoch, len(batches))
        started, loss_sum, tokens = time.perf_counter(), 0.0, 0
        for i, index in enumerate(batches):
            batch = make_batch(train, index, rng)
            loss, grads = model.batch_loss_and_grads(
                params, batch.inputs, batch.tokens, batch.tags, batch.mask, dropout=cfg.dropout, rng=rng
            )
            if not np.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} in epoch {epoch}, batch {i + 1}")
            optimizer.step(params, grads)
            loss_sum += loss * batch.n_tokens
            tokens += batch.n_tokens
            callback.on_batch(epoch, i + 1, loss, batch.n_tokens)
            if callback.stop():
                return result
        seconds = time.perf_counter() - started
        dev_acc = accuracy(params, dev) if dev is not None and len(dev) else None
        record = EpochRecord(epoch, loss_sum / max(tokens, 1), dev_acc, tokens / seconds, seconds, optimizer.lr)
        result.history.append(record)
        callback.on_epoch_end(record)
        if dev_acc is None or result.best_dev_accuracy is None or dev_acc > result.best_dev_accuracy:
            result.params = {k: v.copy() for k, v in params.items()}
            result.best_epoch, result.best_dev_accuracy, since_best = epoch, dev_acc, 0
        else:
            since_best += 1
            if cfg.patience and since_best >= cfg.patience:
                break
        optimizer.lr *= cfg.lr_decay
    return result


