"""Where a training step's time goes: epochs of the default network on treebank, with a timer
around each phase, printed as microseconds per token for the fastest of 3 epochs (the machine's
speed drifts).

    python bench/profile_step.py
"""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from postagger import corpora, layers, model  # noqa: E402
from postagger.encoding import Encoder, encode_corpus, length_batches, make_batch, rare_word_dropout  # noqa: E402
from postagger.optim import make_optimizer  # noqa: E402
from postagger.tagger import build_vocabs  # noqa: E402
from postagger.train import TrainConfig  # noqa: E402
from postagger.vocab import Vocab  # noqa: E402

seconds: dict[str, float] = defaultdict(float)


def timed(module, name: str, label: str) -> None:
    """Replace module.name with a copy that adds its run time to seconds[label]."""
    function = getattr(module, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[label] += time.perf_counter() - started
        return result

    setattr(module, name, wrapper)


def main() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    config = TrainConfig()
    sentences = corpora.load_corpus("treebank", "native", "train")
    words = [[w for w, _ in s] for s in sentences]
    tags = Vocab.from_counts(Counter(t for s in sentences for _, t in s))
    vocabs = build_vocabs(words, config.features, config.min_feature_count)
    train = encode_corpus(Encoder(vocabs), words, [[t for _, t in s] for s in sentences], tags)
    train.drop_prob = rare_word_dropout(train, config.word_dropout)
    net = model.RNNConfig({g: len(v) for g, v in vocabs.items()}, len(tags), hidden=config.hidden)
    params = model.init_params(net, np.random.default_rng(0))

    timed(model, "input_preactivations", "forward: input tables (gather and sum)")
    timed(layers, "rnn_forward", "forward: recurrence")
    timed(model, "_project_lanes", "forward: output layer")
    timed(layers, "softmax_cross_entropy", "softmax and cross-entropy")
    timed(layers, "rnn_backward", "backward: recurrence")
    timed(model, "_project_lanes_backward", "backward: output layer")
    timed(model, "_input_grads", "backward: input tables (row-sparse gradients)")
    model.CELLS["rnn"] = (model.CELLS["rnn"][0], 1, layers.rnn_forward, layers.rnn_backward)
    optimizer = make_optimizer(config.optimizer, config.lr, config.clip, rowwise=config.rowwise_adam)  # as train.fit_params
    rng = np.random.default_rng(0)
    fastest = None
    for _ in range(3):
        seconds.clear()
        tokens, total = epoch(train, params, optimizer, config, rng)
        if fastest is None or total < fastest[1]:
            fastest = (tokens, total, dict(seconds))
    tokens, total, phases = fastest
    print(f"{tokens:,} tokens, {tokens / total:,.0f} tokens/s, {1e6 * total / tokens:.2f} µs per token")
    for label, s in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {1e6 * s / tokens:5.2f} µs  {label}")
    rest = total - sum(phases.values())
    print(f"  {1e6 * rest / tokens:5.2f} µs  everything else (glue, masks, bias gradients)")


def epoch(train, params, optimizer, config, rng) -> tuple[int, float]:
    """One timed epoch: (tokens, seconds)."""
    tokens, started = 0, time.perf_counter()
    for index in length_batches(train.lengths, config.batch_size, rng):
        t0 = time.perf_counter()
        batch = make_batch(train, index, rng)
        t1 = time.perf_counter()
        _, grads = model.batch_loss_and_grads(params, batch.inputs, batch.tokens, batch.tags, batch.mask)
        t2 = time.perf_counter()
        optimizer.step(params, grads)
        t3 = time.perf_counter()
        seconds["batching (make_batch)"] += t1 - t0
        seconds["optimizer step (clipping, lazy row-wise Adam)"] += t3 - t2
        tokens += batch.n_tokens
    return tokens, time.perf_counter() - started


if __name__ == "__main__":
    main()
