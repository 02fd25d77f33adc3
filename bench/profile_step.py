"""Where a training step's time goes: epochs of the default network on treebank, with a timer
around each phase, printed as microseconds per token for the fastest of 3 epochs (the machine's
speed drifts). The phases are those of the training process; with two cores, the right-to-left
lane runs in a second process, and the wait for it is a phase.

    python bench/profile_step.py
    python bench/profile_step.py --no-parallel    # everything in one process
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from postagger import corpora, lanes, layers, model, optim, train  # noqa: E402
from postagger.tagger import RNNTagger  # noqa: E402
from postagger.train import Callback, TrainConfig  # noqa: E402

seconds: dict[str, float] = defaultdict(float)


def timed(owner, name: str, label: str) -> None:
    """Replace owner.name (a module's function or a class's method) with a copy that adds its
    run time to seconds[label]."""
    function = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        seconds[label] += time.perf_counter() - started
        return result

    setattr(owner, name, wrapper)


class PhasesPerEpoch(Callback):
    """Keeps (tokens, seconds, phase seconds) of every epoch of the real training loop."""

    def __init__(self):
        self.epochs: list[tuple[int, float, dict[str, float]]] = []

    def on_epoch_start(self, epoch, n_batches):
        seconds.clear()

    def on_epoch_end(self, record):
        self.epochs.append((round(record.tokens_per_s * record.seconds), record.seconds, dict(seconds)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", action=argparse.BooleanOptionalAction, default=None,
                        help="the right-to-left lane in a second process (default: on Linux with two cores)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    sentences = corpora.load_corpus("treebank", "native", "train")
    parallel = args.parallel if args.parallel is not None else lanes.worthwhile()
    timed(model, "input_preactivations", "forward: input tables (gather and sum)")
    if parallel:  # the left-to-right lane here: its recurrence and its share of the output layer
        timed(layers, "rnn_lane_forward", "forward: recurrence and output layer, lane 0")
        timed(layers, "rnn_lane_backward", "backward: recurrence and output layer, lane 0")
        timed(lanes.LaneWorker, "finish_forward", "forward: waiting for lane 1 (second process)")
        timed(lanes.LaneWorker, "finish_backward", "backward: waiting for lane 1 (second process)")
        timed(lanes.LaneWorker, "settle", "waiting for the tables the second process updates")
    else:
        timed(layers, "rnn_forward", "forward: recurrence")
        timed(model, "_project_lanes", "forward: output layer")
        timed(layers, "rnn_backward", "backward: recurrence")
        timed(model, "_project_lanes_backward", "backward: output layer")
    timed(layers, "softmax_cross_entropy", "softmax and cross-entropy")
    timed(model, "_input_grads", "backward: input tables (row-sparse gradients)")
    timed(train, "make_batch", "batching (make_batch)")
    timed(optim.Adam, "step", "optimizer step (clipping, lazy row-wise Adam)")
    model.CELLS["rnn"] = (model.CELLS["rnn"][0], 1, layers.rnn_forward, layers.rnn_backward)
    phases = PhasesPerEpoch()
    RNNTagger(replace(TrainConfig(), epochs=3), parallel=parallel).fit(sentences, callback=phases)  # the loop of postagger train
    tokens, total, spent = min(phases.epochs, key=lambda epoch: epoch[1])
    where = "2 processes" if parallel else "1 process"
    print(f"{tokens:,} tokens, {tokens / total:,.0f} tokens/s, {1e6 * total / tokens:.2f} µs per token ({where})")
    for label, s in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {1e6 * s / tokens:5.2f} µs  {label}")
    rest = total - sum(spent.values())
    print(f"  {1e6 * rest / tokens:5.2f} µs  everything else (glue, masks, bias gradients)")


if __name__ == "__main__":
    main()
