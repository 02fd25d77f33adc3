"""The training loop: minibatches grouped by length, shuffled by seed, dev accuracy every epoch,
the best weights on dev kept.

Every random choice of epoch e (batch order, word dropout, dropout masks) comes from
np.random.default_rng([seed, e]), so that the same seed gives the same weights.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import lanes as lane_workers
from . import model
from .encoding import (PACKED_BATCH, PACKED_TOKENS, EncodedCorpus, length_batches, longest_first_batches, make_batch,
                       token_positions)
from .errors import TrainingDiverged
from .layers import RowGrad
from .optim import make_optimizer
from .vocab import N_SPECIAL

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
    lr: float | None = None  # None: the optimizer's own (optim.DEFAULT_LR)
    rowwise_adam: bool = True  # lazy Adam keeps one second moment per input-table row, not per entry
    sparse_updates: bool = True  # update only the input-table rows a batch uses (lazy); False: all rows, as dense Adam
    lr_decay: float = 0.8  # the learning rate is multiplied by this after every epoch
    clip: float = 5.0  # global gradient norm; 0 turns clipping off
    dropout: float = 0.0  # on the states each layer passes on
    word_dropout: float = 1.0  # alpha: a word seen c times is hidden with chance alpha/(alpha+c)
    min_feature_count: int = 1  # rarer suffixes, prefixes and shapes share the UNK row
    patience: int = 0  # stop after this many epochs without a better dev accuracy; 0 never stops
    seed: int = 0
    max_sentences: int | None = None  # train on the first N training sentences only

    def __post_init__(self):
        if self.lr is None:
            from .optim import DEFAULT_LR

            self.lr = DEFAULT_LR.get(self.optimizer, DEFAULT_LR["adam"])  # an unknown optimizer: checked_config says

    def network(self, input_sizes: dict[str, int], n_tags: int) -> model.RNNConfig:
        """The network these options build, for inputs and tags of these sizes."""
        return model.RNNConfig(input_sizes=input_sizes, n_tags=n_tags, hidden=self.hidden, layers=self.layers,
                               bidirectional=self.bidirectional, cell=self.cell)


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    dev_accuracy: float | None
    tokens_per_s: float
    seconds: float
    lr: float


_INT, _NUMBER, _MAYBE = (int,), (int, float), type(None)
_CONFIG_TYPES = {  # TrainConfig's fields: the types they may hold, and their least value
    "hidden": (_INT, 1), "layers": (_INT, 1), "bidirectional": ((bool,), None), "cell": ((str,), None),
    "epochs": (_INT, 1), "batch_size": (_INT, 1), "optimizer": ((str,), None), "lr": (_NUMBER, 0),
    "rowwise_adam": ((bool,), None), "sparse_updates": ((bool,), None), "lr_decay": (_NUMBER, 0), "clip": (_NUMBER, 0),
    "dropout": (_NUMBER, 0), "word_dropout": (_NUMBER, 0), "min_feature_count": (_INT, 1), "patience": (_INT, 0),
    "seed": (_INT, 0), "max_sentences": ((int, _MAYBE), 1),
}
_RECORD_TYPES = {"epoch": (_INT, 1), "loss": (_NUMBER, None), "dev_accuracy": ((*_NUMBER, _MAYBE), 0),
                 "tokens_per_s": (_NUMBER, 0), "seconds": (_NUMBER, 0), "lr": (_NUMBER, 0)}


def _check_fields(values: dict, types: dict, what: str) -> None:
    """A ValueError naming the first of values that is not of its type or under its least value."""
    for name, (kinds, least) in types.items():
        value = values[name]
        if isinstance(value, bool) != (kinds == (bool,)) or not isinstance(value, kinds):
            raise ValueError(f"{what}{name} is {value!r}")
        if least is not None and value is not None and not value >= least:  # not: NaN fails too
            raise ValueError(f"{what}{name} is {value!r}, under {least}")
        if isinstance(value, float) and value == float("inf"):
            raise ValueError(f"{what}{name} is {value!r}, not a finite number")


def checked_config(config: TrainConfig) -> TrainConfig:
    """config, or a ValueError naming the first field a training cannot use (a hand-edited
    model.json): each of the type and range the command line allows."""
    from .optim import OPTIMIZERS

    _check_fields(vars(config), _CONFIG_TYPES, "config.")
    if not (isinstance(config.features, (list, tuple)) and all(isinstance(f, str) for f in config.features)):
        raise ValueError(f"config.features is {config.features!r}")
    for name, known in (("cell", model.CELLS), ("optimizer", OPTIMIZERS)):
        if getattr(config, name) not in known:
            raise ValueError(f"config.{name} is {getattr(config, name)!r}, not one of {', '.join(known)}")
    if config.lr_decay > 1:
        raise ValueError(f"config.lr_decay is {config.lr_decay!r}, over 1")
    if config.dropout >= 1:
        raise ValueError(f"config.dropout is {config.dropout!r}, not under 1")
    return config


def epoch_records(history) -> list[EpochRecord]:
    """model.json's history as EpochRecords, or a ValueError naming what is wrong."""
    if not isinstance(history, list):
        raise ValueError(f"history is {history!r}")
    records = []
    for record in history:
        if not isinstance(record, dict) or set(record) != set(_RECORD_TYPES):
            raise ValueError(f"history holds {record!r}")
        _check_fields(record, _RECORD_TYPES, "history's ")
        records.append(EpochRecord(**record))
    return records


class Callback:
    """Hooks for progress display. The loop stops after the current batch when stop() is true."""

    def on_epoch_start(self, epoch: int, n_batches: int) -> None: ...
    def on_batch(self, epoch: int, batch: int, loss: float, tokens: int) -> None: ...
    def on_epoch_end(self, record: EpochRecord) -> None: ...
    def stop(self) -> bool:
        return False


def accuracy(params: dict[str, np.ndarray], corpus: EncodedCorpus, batch_size: int = 256, skip: int = N_SPECIAL,
             side_by_side=None) -> float:
    """Token accuracy of the network on an encoded, tagged corpus. Elman networks score packed
    batches as the tagger does (model.predict_packed, side_by_side running their lanes when
    given), about twice as fast as padded ones; gated cells score padded batches of batch_size."""
    if model.architecture(params).cell == "rnn":
        correct = sum(_packed_correct(params, corpus, index, skip, side_by_side)
                      for index in longest_first_batches(corpus.lengths, PACKED_BATCH, PACKED_TOKENS))
        return correct / max(corpus.n_tokens, 1)
    correct = 0
    for index in length_batches(corpus.lengths, batch_size):
        batch = make_batch(corpus, index)
        predicted = model.predict(params, batch.inputs, batch.tokens, batch.mask, skip=skip)
        correct += int(((predicted == batch.tags) & (batch.mask == 1)).sum())
    return correct / max(corpus.n_tokens, 1)


def _packed_correct(params, corpus: EncodedCorpus, index: np.ndarray, skip: int, side_by_side) -> int:
    """How many tokens of the sentences `index` (longest first) the network tags right."""
    positions = token_positions(corpus.offsets, index)
    types, rows = np.unique(corpus.types[positions], return_inverse=True)  # the batch's word types, each token's
    ids = dict(zip(corpus.groups, corpus.type_ids[:, types]))
    by_row = model.input_preactivations(params, model.architecture(params), ids)  # (D, U, F)
    lengths = corpus.offsets[index + 1] - corpus.offsets[index]
    scores, row_of_token = model.predict_packed(params, by_row, rows.reshape(-1), lengths, skip=skip, side_by_side=side_by_side)
    return int(np.count_nonzero(scores.argmax(axis=-1)[row_of_token] == corpus.tags[positions]))


@dataclass
class TrainState:
    """Everything the loop needs to carry on exactly where it stopped: the position (the next
    batch of an epoch), the epoch's random generator, the optimizer, and the best weights so far.
    Resuming from it gives the same weights as never stopping."""

    params: dict[str, np.ndarray]  # the current weights, trained in place
    best_params: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    epoch: int = 1
    batch: int = 0  # batches of `epoch` already done
    rng: dict | None = None  # bit_generator.state of the epoch's generator after `batch` batches
    lr: float | None = None
    loss_sum: float = 0.0
    tokens: int = 0
    seconds: float = 0.0
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_accuracy: float | None = None
    since_best: int = 0
    finished: bool = False

    def position(self) -> dict:
        """The JSON-able part (the arrays are saved apart)."""
        skip = {"params", "best_params", "optimizer", "history"}
        out = {k: v for k, v in self.__dict__.items() if k not in skip}
        out["history"] = [r.__dict__ for r in self.history]
        return out

    @classmethod
    def from_position(cls, position: dict, params, best_params, optimizer) -> "TrainState":
        """The state a position() describes; a ValueError naming the first field that cannot be."""
        fields_ = {k: v for k, v in position.items() if k != "history"}
        history = epoch_records(position.get("history", []))
        state = cls(params=params, best_params=best_params, optimizer=optimizer, history=history, **fields_)
        _check_fields(vars(state), _POSITION_TYPES, "")
        if state.rng is not None:
            try:
                np.random.default_rng(0).bit_generator.state = state.rng
            except (TypeError, ValueError, KeyError):
                raise ValueError("rng is not a random generator's state") from None
        return state


_POSITION_TYPES = {  # TrainState's JSON fields: the types they may hold, and their least value
    "epoch": ((int,), 1), "batch": ((int,), 0), "rng": ((dict, _MAYBE), None), "lr": (_NUMBER, 0),
    "loss_sum": (_NUMBER, 0), "tokens": ((int,), 0), "seconds": (_NUMBER, 0), "best_epoch": ((int,), 0),
    "best_dev_accuracy": ((*_NUMBER, _MAYBE), 0), "since_best": ((int,), 0), "finished": ((bool,), None),
}


@dataclass
class TrainResult:
    params: dict[str, np.ndarray]  # the best weights on dev (the last ones without dev)
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_dev_accuracy: float | None = None
    state: TrainState | None = None  # where training stands; state.finished is False when stopped early


def fit_params(
    params: dict[str, np.ndarray] | None,
    train: EncodedCorpus,
    dev: EncodedCorpus | None,
    cfg: TrainConfig,
    callback: Callback | None = None,
    resume: TrainState | None = None,
    on_epoch_saved=None,
    parallel: bool | None = None,
    side_by_side=None,
) -> TrainResult:
    """Train params in place for cfg.epochs epochs; return the best weights on dev. With resume
    (whose weights carry on), params is None.

    When callback.stop() turns true, return after the current batch, with result.state ready to
    pass back as `resume`. on_epoch_saved(state), when given, is called after every epoch (for
    checkpoints). parallel: run the right-to-left lane of a one-layer bidirectional Elman
    network, and the step of half of its input tables, in a second process (lanes.LaneWorker),
    with the weights of one process on one BLAS thread (both then use one); None: when
    lanes.worthwhile() (Linux, two cores or more). side_by_side: how dev accuracy runs an Elman
    network's lanes (see accuracy)."""
    if (params is None) == (resume is None):
        raise ValueError("fit_params takes the weights to train or a state to resume, one of them")
    callback = callback or Callback()
    optimizer = training_optimizer(cfg)
    state = resume or TrainState(params=params, best_params={k: v.copy() for k, v in params.items()})
    params = state.params
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
        optimizer.lr = resume.lr
    with _lane_worker(params, train, cfg, parallel, optimizer) as lanes:
        return _train_epochs(state, optimizer, train, dev, cfg, callback, on_epoch_saved, lanes, side_by_side)


def training_optimizer(cfg: TrainConfig):
    """The optimizer fit_params trains with: row-wise lazy Adam for row-sparse updates."""
    options = {"rowwise": True} if cfg.optimizer == "adam" and cfg.rowwise_adam and cfg.sparse_updates else {}  # dense: per entry
    return make_optimizer(cfg.optimizer, cfg.lr, cfg.clip, **options)


def optimizer_slots(cfg: TrainConfig, params: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    """Every optimizer state array a training of cfg holds after its first step, by key
    ("param/slot"), with its shape: the input tables' as their updates need, the rest per entry."""
    lazy, dense = training_optimizer(cfg), make_optimizer(cfg.optimizer, cfg.lr, cfg.clip)
    arch = model.architecture(params)
    tables = {arch.input_key(g) for g in arch.groups} if cfg.sparse_updates else set()
    return {f"{name}/{slot}": shape for name, value in params.items()
            for slot, shape in (lazy if name in tables else dense).table_slots(value.shape).items()}


def largest_padded_batch(lengths: np.ndarray, batch_size: int) -> int:
    """Positions (sentences x steps) of the largest padded batch length_batches makes: its
    batches are runs of batch_size sentences in length order, whatever the shuffle."""
    batch_size = min(batch_size, max(len(lengths), 1))  # any larger is one batch of all, and may pass int64
    ordered = np.sort(lengths)
    ends = np.minimum(np.arange(batch_size, len(ordered) + batch_size, batch_size), len(ordered))
    sizes = ends - np.arange(0, len(ordered), batch_size)
    return int((sizes * ordered[ends - 1]).max())


def _lane_worker(params, train: EncodedCorpus, cfg: TrainConfig, parallel: bool | None, optimizer):
    """A started LaneWorker, when wanted and the network allows, as a context manager. With
    row-sparse updates it also updates every other input table by size, from the largest: a
    little over half the rows a batch uses, while the caller updates the rest and the dense
    weights, then makes the next batch."""
    if parallel is None:
        parallel = lane_workers.worthwhile() and model.runs_apart(params, cfg.dropout)
    elif parallel and not model.runs_apart(params, cfg.dropout):
        warnings.warn("training in one process: the second one serves one-layer bidirectional Elman networks "
                      "without dropout", RuntimeWarning, stacklevel=3)
        parallel = False
    if not (parallel and len(train)):
        return contextlib.nullcontext()
    arch = model.architecture(params)
    capacity = largest_padded_batch(train.lengths, cfg.batch_size)
    keys = sorted((arch.input_key(g) for g in arch.groups), key=lambda key: -len(params[key]))
    tables = keys[::2] if cfg.sparse_updates else []
    grad_rows = min(sum(len(params[key]) for key in keys), 3 * capacity)  # a batch's rows are fewer
    worker = lane_workers.start_worker(capacity, arch.hidden, model.score_columns(params), params=params,
                                       optimizer=optimizer, arch=arch, updates=tables, grad_rows=grad_rows)
    return _on_one_blas_thread(worker) if worker else contextlib.nullcontext()


@contextlib.contextmanager
def _on_one_blas_thread(worker: lane_workers.LaneWorker):
    """The worker, with this process on one BLAS thread as the worker is: BLAS rounds by its
    thread count, so both processes then compute what one process on one thread does."""
    from threadpoolctl import threadpool_limits

    with worker, threadpool_limits(limits=1, user_api="blas"):
        yield worker


def _train_epochs(state: TrainState, optimizer, train, dev, cfg: TrainConfig, callback: Callback, on_epoch_saved,
                  lanes, side_by_side=None) -> TrainResult:
    params = state.params
    while state.epoch <= cfg.epochs and not state.finished:
        epoch = state.epoch
        rng = np.random.default_rng([cfg.seed, epoch])
        batches = length_batches(train.lengths, cfg.batch_size, rng)
        if state.rng is not None:
            rng.bit_generator.state = state.rng
        callback.on_epoch_start(epoch, len(batches) - state.batch)  # the batches still to do
        started = time.perf_counter() - state.seconds
        batch = make_batch(train, batches[state.batch], rng) if state.batch < len(batches) else None
        for i in range(state.batch, len(batches)):
            with np.errstate(over="ignore", invalid="ignore"):  # a diverging loss is reported below
                loss, grads = model.batch_loss_and_grads(
                    params, batch.inputs, batch.tokens, batch.tags, batch.mask, dropout=cfg.dropout, rng=rng,
                    lanes=lanes,
                )
            if not cfg.sparse_updates:
                grads = {k: g.to_dense(params[k].shape) if isinstance(g, RowGrad) else g for k, g in grads.items()}
            if not np.isfinite(loss):
                raise TrainingDiverged(f"training stopped: the loss became {loss} in epoch {epoch}, batch {i + 1}; "
                                       f"try a lower --lr or --clip")
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    optimizer.step(params, grads, helper=lanes, wait=False)
            except FloatingPointError as err:
                raise TrainingDiverged(f"training stopped: {err} in epoch {epoch}, batch {i + 1}, whose loss was "
                                       f"{float(loss):.4g}; try a lower --lr or --clip") from None
            n_tokens, before_next = batch.n_tokens, rng.bit_generator.state  # where a resumed run starts
            batch = make_batch(train, batches[i + 1], rng) if i + 1 < len(batches) else None  # while the worker updates
            _settle(lanes)  # its tables, before anyone (a callback) reads them
            state.loss_sum += float(loss) * n_tokens
            state.tokens += n_tokens
            callback.on_batch(epoch, i + 1, loss, n_tokens)
            if callback.stop() and i + 1 < len(batches):
                _check_finite(params, epoch, i + 1)  # before a checkpoint keeps them
                state.batch, state.rng = i + 1, before_next
                state.seconds = time.perf_counter() - started
                return _result(_keep_optimizer(state, optimizer))
        seconds = time.perf_counter() - started
        _check_finite(params, epoch, len(batches))  # the last step's update has met no loss yet
        dev_acc = accuracy(params, dev, side_by_side=side_by_side) if dev is not None and len(dev) else None
        record = EpochRecord(epoch, state.loss_sum / max(state.tokens, 1), dev_acc, state.tokens / seconds, seconds, optimizer.lr)
        state.history.append(record)
        callback.on_epoch_end(record)
        if dev_acc is None or state.best_dev_accuracy is None or dev_acc > state.best_dev_accuracy:
            state.best_params = {k: v.copy() for k, v in params.items()}
            state.best_epoch, state.best_dev_accuracy, state.since_best = epoch, dev_acc, 0
        else:
            state.since_best += 1
            state.finished = bool(cfg.patience and state.since_best >= cfg.patience)
        optimizer.lr *= cfg.lr_decay
        state.epoch, state.batch, state.rng, state.loss_sum, state.tokens, state.seconds = epoch + 1, 0, None, 0.0, 0, 0.0
        state.finished = state.finished or state.epoch > cfg.epochs
        if on_epoch_saved is not None and not state.finished:
            on_epoch_saved(_keep_optimizer(state, optimizer))
        if callback.stop() and not state.finished:
            return _result(_keep_optimizer(state, optimizer))
    return _result(state)


def _check_finite(params: dict[str, np.ndarray], epoch: int, batch: int) -> None:
    """TrainingDiverged when a weight is NaN or infinite after the update of `batch` (1.5 ms for
    the default network's 7 million weights)."""
    for name, value in params.items():
        if not np.isfinite(value).all():
            raise TrainingDiverged(f"training stopped: {name} became {'NaN' if np.isnan(value).any() else 'infinite'} "
                                   f"in epoch {epoch}, batch {batch}; try a lower --lr or --clip")


def _settle(lanes) -> None:
    """Wait until the lane worker's update of its tables, if any, is done: before params are read
    other than by the next batch's forward."""
    if lanes is not None:
        lanes.settle()


def _keep_optimizer(state: TrainState, optimizer) -> TrainState:
    """Record the optimizer's state and learning rate in state, for a checkpoint."""
    state.optimizer, state.lr = optimizer.state_dict(), optimizer.lr
    return state


def _result(state: TrainState) -> TrainResult:
    return TrainResult(state.best_params, state.history, state.best_epoch, state.best_dev_accuracy, state)


