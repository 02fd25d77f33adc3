"""Accuracy of postagger's default tagger against NLTK's averaged perceptron, side by side.

Both taggers train on each corpus's train split (ours also reads dev to pick its best epoch)
and are scored on the test split. Unknown words are test words absent from the train split, the
same set for both. Prints one table and writes it to bench/results/accuracy.md.

    python bench/accuracy.py                       # treebank, conll2000, brown (about 4 min here)
    python bench/accuracy.py --corpora treebank    # one corpus
    python bench/accuracy.py --cells rnn,lstm,gru  # one row per cell
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from postagger import corpora  # noqa: E402
from postagger.tagger import RNNTagger  # noqa: E402
from postagger.train import TrainConfig  # noqa: E402

CORPORA = {"treebank": "native", "conll2000": "native", "brown": "universal"}
RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.md"


def scores(gold_sents, predicted, known_words) -> tuple[float, float, float]:
    gold = np.array([t for s in gold_sents for _, t in s])
    pred = np.array([t for s in predicted for _, t in s])
    known = np.array([w in known_words for s in gold_sents for w, _ in s])
    right = gold == pred
    return right.mean(), right[~known].mean(), (~known).mean()


def run_perceptron(train, test, iterations: int, seed: int):
    import random

    from nltk.tag.perceptron import PerceptronTagger

    random.seed(seed)  # NLTK's perceptron shuffles with the random module
    tagger = PerceptronTagger(load=False)
    started = time.perf_counter()
    tagger.train(train, nr_iter=iterations)
    seconds = time.perf_counter() - started
    return tagger.tag_sents([[w for w, _ in s] for s in test]), seconds


def run_ours(train, dev, test, config: TrainConfig):
    started = time.perf_counter()
    tagger = RNNTagger(config).fit(train, dev)
    seconds = time.perf_counter() - started
    return tagger.tag_sents([[w for w, _ in s] for s in test]), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated: treebank,conll2000,brown")
    parser.add_argument("--cells", default="rnn", help="comma-separated cells for our rows: rnn,lstm,gru")
    parser.add_argument("--dense-adam", action="store_true",
                        help="add a row for our default network trained with dense Adam (every row, every step, a second moment per entry)")
    parser.add_argument("--iterations", type=int, default=5, help="perceptron training iterations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")  # postagger's default (--threads 1)

    rows = []
    header = ("corpus", "tagset", "tagger", "accuracy", "unknown-word accuracy", "unknown share", "training seconds")
    print(" | ".join(header), flush=True)
    for name in args.corpora.split(","):
        tagset = CORPORA.get(name, "native")
        train, dev, test = (corpora.load_corpus(name, tagset, split) for split in ("train", "dev", "test"))
        known = {w for s in train for w, _ in s}
        results = [("NLTK PerceptronTagger", *run_perceptron(train, test, args.iterations, args.seed))]
        for cell in args.cells.split(","):
            config = replace(TrainConfig(), cell=cell, seed=args.seed)
            label = "postagger (default)" if cell == "rnn" else f"postagger, {cell} cell"
            results.append((label, *run_ours(train, dev, test, config)))
        if args.dense_adam:
            config = replace(TrainConfig(), seed=args.seed, sparse_updates=False, rowwise_adam=False)
            results.append(("postagger (default), dense Adam", *run_ours(train, dev, test, config)))
        for label, predicted, seconds in results:
            acc, unk, share = scores(test, predicted, known)
            row = (name, tagset, label, f"{100 * acc:.2f} %", f"{100 * unk:.2f} %", f"{100 * share:.1f} %", f"{seconds:.0f}")
            rows.append(row)
            print(" | ".join(row), flush=True)

    command = "python bench/accuracy.py " + " ".join(sys.argv[1:])
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join([
        "# Accuracy: postagger against NLTK's averaged perceptron",
        "",
        f"Made by `{command.strip()}` on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}. Train on train (ours picks its best "
        "epoch on dev), score on test; unknown words are test words absent from train. "
        f"Perceptron: {args.iterations} iterations.",
        "",
        *table,
        "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
