"""Scores of predicted tags against gold tags, with scikit-learn's metrics.

Inputs are flat, token-aligned lists: gold tags, predicted tags, and whether each word was in the
model's training data (known) or not (unknown).
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from .errors import DataError


def _accuracy(gold: np.ndarray, pred: np.ndarray) -> float | None:
    return float(accuracy_score(gold, pred)) if len(gold) else None


def score(gold: Sequence[str], pred: Sequence[str], known: Sequence[bool]) -> dict:
    """accuracy, known_accuracy, unknown_accuracy, tokens, unknown_tokens, per_tag, confusion.

    per_tag: tag -> precision, recall, f1-score, support, for every gold or predicted tag (the
    keys of classification_report's rows, without its summary rows, which a tag may be named
    like); confusion holds labels ordered by gold frequency and the matrix (rows gold, columns
    predicted).
    """
    if not (len(gold) == len(pred) == len(known)):
        raise ValueError("gold, pred and known must have the same length")
    gold_counts = Counter(gold)
    counts = gold_counts + Counter(pred)
    labels = sorted(counts, key=lambda t: (-gold_counts[t], -counts[t], t))
    number = {tag: i for i, tag in enumerate(labels)}  # scikit-learn sorts strings 5-10x slower than ints
    gold_a, pred_a = (np.fromiter(map(number.__getitem__, tags), dtype=np.intp, count=len(tags)) for tags in (gold, pred))
    known_a, ids = np.asarray(known, dtype=bool), np.arange(len(labels))
    columns = precision_recall_fscore_support(gold_a, pred_a, labels=ids, average=None, zero_division=0)
    per_tag = {tag: {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": int(n)}
               for tag, p, r, f, n in zip(labels, *columns)}
    with warnings.catch_warnings():  # "a single label was found": a file of one tag is scored all the same
        warnings.simplefilter("ignore", UserWarning)
        matrix = confusion_matrix(gold_a, pred_a, labels=ids)
    return {
        "accuracy": _accuracy(gold_a, pred_a),
        "known_accuracy": _accuracy(gold_a[known_a], pred_a[known_a]),
        "unknown_accuracy": _accuracy(gold_a[~known_a], pred_a[~known_a]),
        "tokens": len(gold),
        "unknown_tokens": int((~known_a).sum()),
        "per_tag": per_tag,
        "confusion": {"labels": labels, "matrix": matrix.tolist()},
    }


# NLTK's 12-tag universal tagset (Petrov et al. 2012), and Universal Dependencies' 17 UPOS tags
# mapped onto it. SCONJ goes to ADP because NLTK's en-ptb table maps IN, PTB's one tag for
# prepositions and subordinating conjunctions, to ADP.
UNIVERSAL_TAGS = ("ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRT", "PRON", "VERB", ".", "X")
UPOS_TO_UNIVERSAL = {
    "ADJ": "ADJ", "ADP": "ADP", "ADV": "ADV", "AUX": "VERB", "CCONJ": "CONJ", "DET": "DET",
    "INTJ": "X", "NOUN": "NOUN", "NUM": "NUM", "PART": "PRT", "PRON": "PRON", "PROPN": "NOUN",
    "PUNCT": ".", "SCONJ": "ADP", "SYM": "X", "VERB": "VERB", "X": "X",
}


def universal_table(native: dict[str, str] | None = None) -> dict[str, str]:
    """tag -> universal tag: the universal tags themselves, UPOS, and a native table (e.g. NLTK's
    en-ptb) for treebank-style tags. Tags in none of them stay unmapped."""
    return {**(native or {}), **UPOS_TO_UNIVERSAL, **{t: t for t in UNIVERSAL_TAGS}}


def table_for_tags(tags: Sequence[str], native_table) -> dict[str, str]:
    """The universal table that maps most of a model's tags, for a model trained on a file:
    UPOS and the universal tags alone, or with NLTK's table for PTB tags, or for Brown tags,
    the first of these on a tie. native_table(name) gives NLTK's table (corpora.universal_tag_mapping)."""
    candidates = [universal_table()] + [universal_table(native_table(name)) for name in ("en-ptb", "en-brown")]
    return max(candidates, key=lambda table: sum(tag in table for tag in tags))  # max keeps the first of equals


def compare(gold: Sequence[str], pred: Sequence[str], known: Sequence[bool], model_tags: Sequence[str],
            table: dict[str, str] | None = None, pred_table: dict[str, str] | None = None) -> dict:
    """score() plus what a user must know about the tags themselves. table maps gold tags to
    universal ones, pred_table (default: table) the predicted tags:

    unseen_gold_tags   gold tags the model cannot predict, with their counts;
    unmapped           with a table: tags it does not cover, {"gold": {tag: n}, "predicted": {...}}.
                       Tokens whose gold tag is unmapped are left out of the scores; an unmapped
                       predicted tag stays as it is, so it counts as wrong.
    """
    gold, pred, known = list(gold), list(pred), list(known)
    extra: dict = {}
    labels = set(model_tags)
    if table is not None:
        pred_table = pred_table or table
        unmapped_gold = Counter(t for t in gold if t not in table)
        keep = [i for i, t in enumerate(gold) if t in table]
        unmapped_pred = Counter(pred[i] for i in keep if pred[i] not in pred_table)  # those scored, as wrong
        gold = [table[gold[i]] for i in keep]
        pred = [pred_table.get(pred[i], pred[i]) for i in keep]
        known = [known[i] for i in keep]
        labels = {pred_table[t] for t in model_tags if t in pred_table}
        extra["unmapped"] = {"gold": dict(unmapped_gold.most_common()), "predicted": dict(unmapped_pred.most_common())}
    if not gold and table is None:
        raise DataError("nothing to score: no tokens")
    if not gold:
        unmapped = list(extra["unmapped"]["gold"].items())
        listed = ", ".join(f"{t} ({n})" for t, n in unmapped[:10]) + (f", and {len(unmapped) - 10} more" if len(unmapped) > 10 else "")
        raise DataError(f"nothing to score: no gold tag has a universal mapping (unmapped: {listed})")
    result = score(gold, pred, known)
    result["unseen_gold_tags"] = dict(Counter(t for t in gold if t not in labels).most_common())
    return {**result, **extra}


def evaluate_tagger(tagger, tagged_sents: Sequence[Sequence[tuple[str, str]]], table: dict[str, str] | None = None,
                    pred_table: dict[str, str] | None = None, advance=None, chunk: int = 2048) -> dict:
    """compare() of a tagger's tags for the words of tagged_sents with their gold tags. tagger:
    an RNNTagger (tag_sents, is_known, classes_). advance(n), when given, is called after each
    chunk of n sentences is tagged."""
    words = [[w for w, _ in s] for s in tagged_sents]
    pred = []
    for i in range(0, len(words), chunk):
        pred += [t for s in tagger.tag_sents(words[i : i + chunk]) for _, t in s]
        if advance is not None:
            advance(len(words[i : i + chunk]))
    gold = [t for s in tagged_sents for _, t in s]
    known_word = {w: tagger.is_known(w) for w in {w for s in words for w in s}}  # once a word, not a token
    known = [known_word[w] for s in words for w in s]
    return compare(gold, pred, known, tagger.classes_, table, pred_table)


def top_confusions(confusion: dict, n: int = 10) -> list[tuple[str, str, int]]:
    """The n largest off-diagonal cells: (gold, predicted, count); equal counts in the labels'
    order (gold tags by frequency, then predicted ones)."""
    labels, matrix = confusion["labels"], np.array(confusion["matrix"])
    np.fill_diagonal(matrix, 0)
    flat = np.argsort(-matrix, axis=None, kind="stable")[:n]
    cells = [np.unravel_index(i, matrix.shape) for i in flat]
    return [(labels[g], labels[p], int(matrix[g, p])) for g, p in cells if matrix[g, p] > 0]


def _tokens(n: int) -> str:
    return "1 token" if n == 1 else f"{n} tokens"


def format_report(result: dict, top_tags: int = 12) -> str:
    """The human-readable report: accuracies, per-tag table, confusion matrix, top confusions."""
    def pct(x):
        if x is None:
            return "n/a"
        shown = f"{100 * x:.2f}%"
        return "99.99%" if shown == "100.00%" and x < 1 else shown  # 3 errors in 80,000 are not none

    lines = [
        f"accuracy          {pct(result['accuracy'])}  ({_tokens(result['tokens'])})",
        f"known words       {pct(result['known_accuracy'])}  ({_tokens(result['tokens'] - result['unknown_tokens'])})",
        f"unknown words     {pct(result['unknown_accuracy'])}  ({_tokens(result['unknown_tokens'])})",
        "",
        f"{'tag':>10} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
    ]
    for tag, row in result["per_tag"].items():
        lines.append(f"{tag:>10} {row['precision']:9.3f} {row['recall']:9.3f} {row['f1-score']:9.3f} {int(row['support']):8d}")
    labels = result["confusion"]["labels"][:top_tags]
    matrix = np.array(result["confusion"]["matrix"])[: len(labels), : len(labels)]
    width = max(5, *(len(t) for t in labels)) + 1
    lines += ["", f"confusion matrix, {len(labels)} most frequent tags (rows gold, columns predicted)"]
    lines.append(" " * width + "".join(f"{t:>{width}}" for t in labels))
    for tag, row in zip(labels, matrix):
        lines.append(f"{tag:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    lines += ["", "largest confusions (gold -> predicted: count)"]
    lines += [f"  {g:>6} -> {p:<6} {n}" for g, p, n in top_confusions(result["confusion"])] or ["  none: every token right"]
    lines += notes(result)
    return "\n".join(lines)


def notes(result: dict) -> list[str]:
    """Warnings about tags: unmapped ones and gold tags the model never saw."""
    def listing(counts: dict) -> str:
        return ", ".join(f"{t} ({n})" for t, n in counts.items())

    out = []
    unmapped = result.get("unmapped", {})
    if unmapped.get("gold"):
        n = sum(unmapped["gold"].values())
        out.append(f"note: {n} tokens left out, their gold tag has no universal mapping: {listing(unmapped['gold'])}")
    if unmapped.get("predicted"):
        out.append(f"note: predicted tags with no universal mapping, counted wrong: {listing(unmapped['predicted'])}")
    if result.get("unseen_gold_tags"):
        out.append(f"note: gold tags the model never saw in training: {listing(result['unseen_gold_tags'])}")
        unseen = sum(result["unseen_gold_tags"].values())
        if unseen > result["tokens"] / 10 and "unmapped" not in result:
            out.append(f"note: {100 * unseen / result['tokens']:.0f}% of the gold tokens have such tags: another tagset? "
                       f"--tagset universal scores both in NLTK's universal tags, where it can map them")
    return [""] * bool(out) + out
