"""Out of domain: taggers trained on treebank (WSJ news), scored on another corpus in NLTK's
universal tagset, gold tags mapped with that corpus's own table, predictions with en-ptb.

    python bench/out_of_domain.py                 # brown test split, about 1 minute
    python bench/out_of_domain.py --split dev
    python bench/out_of_domain.py --split dev --hidden 64   # the smaller, faster network

Unknown words are words absent from treebank's train split, the same set for both taggers.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from postagger import corpora  # noqa: E402
from postagger.evaluate import compare, universal_table  # noqa: E402
from postagger.tagger import RNNTagger  # noqa: E402
from postagger.train import TrainConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="brown", help="a corpus with a universal mapping other than treebank's")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=TrainConfig().hidden, help="our hidden units per direction")
    args = parser.parse_args()
    from nltk.tag.perceptron import PerceptronTagger
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    train, dev = (corpora.load_corpus("treebank", "native", s) for s in ("train", "dev"))
    target = corpora.load_corpus(args.target, "native", args.split)
    gold_table = universal_table(corpora.universal_tag_mapping(corpora.native_tagset_name(args.target)))
    pred_table = universal_table(corpora.universal_tag_mapping("en-ptb"))
    words = [[w for w, _ in s] for s in target]
    gold = [t for s in target for _, t in s]
    vocabulary = {w for s in train for w, _ in s}
    known = [w in vocabulary for s in words for w in s]
    tags = sorted({t for s in train for _, t in s})

    random.seed(args.seed)  # NLTK's perceptron shuffles with the random module
    perceptron = PerceptronTagger(load=False)
    perceptron.train(train, nr_iter=5)
    ours = RNNTagger(TrainConfig(seed=args.seed, hidden=args.hidden)).fit(train, dev)
    print(f"trained on treebank train, scored on {args.target} {args.split} ({len(gold):,} tokens), universal tags")
    print("tagger | accuracy | unknown-word accuracy | unknown share")
    label = "postagger (default)" if args.hidden == TrainConfig().hidden else f"postagger, hidden {args.hidden}"
    print(f"postagger: {ours.history_[0].tokens_per_s:,.0f} tokens/s in its first epoch")
    for name, tagger in (("NLTK PerceptronTagger", perceptron), (label, ours)):
        pred = [t for s in tagger.tag_sents(words) for _, t in s]
        r = compare(gold, pred, known, tags, gold_table, pred_table)
        print(f"{name} | {100 * r['accuracy']:.2f} % | {100 * r['unknown_accuracy']:.2f} % | "
              f"{100 * r['unknown_tokens'] / r['tokens']:.1f} %")


if __name__ == "__main__":
    main()
