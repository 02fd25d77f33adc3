"""evaluate.score and the report against counts made by hand."""

import pytest

from postagger.evaluate import compare, format_report, score, top_confusions

# Tags named like classification_report's summary rows, a tag only in gold (ZZ) and one only
# predicted (QQ).
GOLD = ["accuracy", "accuracy", "macro avg", "NN", "NN", "NN", "weighted avg", "ZZ", "DT"]
PRED = ["accuracy", "NN", "macro avg", "NN", "NN", "QQ", "NN", "NN", "DT"]
KNOWN = [True, True, False, True, False, True, True, False, True]


def by_hand(gold, pred, tag):
    tp = sum(g == p == tag for g, p in zip(gold, pred))
    predicted, support = pred.count(tag), gold.count(tag)
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, support


def test_per_tag_scores_equal_counts_by_hand_for_every_tag():
    result = score(GOLD, PRED, KNOWN)
    assert set(result["per_tag"]) == set(GOLD) | set(PRED)
    for tag, row in result["per_tag"].items():
        assert (row["precision"], row["recall"], row["f1-score"], row["support"]) == pytest.approx(by_hand(GOLD, PRED, tag))
    assert result["accuracy"] == pytest.approx(5 / 9)
    assert result["known_accuracy"] == pytest.approx(3 / 6)
    assert result["unknown_accuracy"] == pytest.approx(2 / 3)
    assert result["unknown_tokens"] == 3


def test_confusion_labels_by_gold_frequency_and_ties_in_that_order():
    result = score(GOLD, PRED, KNOWN)
    labels = result["confusion"]["labels"]
    assert labels == ["NN", "accuracy", "DT", "macro avg", "ZZ", "weighted avg", "QQ"]  # ties: more predicted, then by name
    for g, row in zip(labels, result["confusion"]["matrix"]):
        assert row == [sum(a == g and b == p for a, b in zip(GOLD, PRED)) for p in labels]
    # every off-diagonal count is 1: they come in the labels' order, rows first
    assert top_confusions(result["confusion"]) == [("NN", "QQ", 1), ("accuracy", "NN", 1), ("ZZ", "NN", 1),
                                                  ("weighted avg", "NN", 1)]
    assert top_confusions(result["confusion"], n=2) == [("NN", "QQ", 1), ("accuracy", "NN", 1)]


def test_largest_confusions_come_first():
    gold = ["A"] * 5 + ["B"] * 5 + ["C"] * 2
    pred = ["B", "B", "A", "A", "A"] + ["C", "C", "C", "B", "B"] + ["A", "C"]
    assert top_confusions(score(gold, pred, [True] * 12)["confusion"]) == [("B", "C", 3), ("A", "B", 2), ("C", "A", 1)]


def test_the_report_has_a_row_for_a_tag_named_like_a_summary_row():
    lines = format_report(score(GOLD, PRED, KNOWN)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["tag", "precision"]) + 1
    table = lines[start : lines.index("", start)]
    rows = {line.rsplit(maxsplit=4)[0].strip(): line.rsplit(maxsplit=4)[1:] for line in table}  # a tag may hold spaces
    assert set(rows) == set(GOLD) | set(PRED)
    for tag, row in rows.items():
        precision, recall, f1, support = by_hand(GOLD, PRED, tag)
        assert row == [f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}", str(support)]


def test_the_report_counts_tokens_in_words():
    lines = format_report(score(["NN", "DT"], ["NN", "NN"], [True, False])).splitlines()
    assert lines[:3] == ["accuracy          50.00%  (2 tokens)", "known words       100.00%  (1 token)",
                         "unknown words     0.00%  (1 token)"]


def test_a_few_errors_in_many_are_not_shown_as_a_perfect_score():
    gold = ["NN"] * 80_000
    pred = ["NN"] * 79_997 + ["DT"] * 3
    lines = format_report(score(gold, pred, [True] * 80_000)).splitlines()
    assert lines[0] == "accuracy          99.99%  (80000 tokens)"
    perfect = format_report(score(["NN", "DT"], ["NN", "DT"], [True, True])).splitlines()
    assert perfect[0] == "accuracy          100.00%  (2 tokens)"
    assert perfect[perfect.index("largest confusions (gold -> predicted: count)") + 1] == "  none: every token right"


def test_nothing_to_score_is_a_data_error():
    from postagger.errors import DataError
    from postagger.evaluate import compare

    with pytest.raises(DataError, match="nothing to score: no tokens"):
        compare([], [], [], model_tags=["NN"])


def test_unmapped_predictions_are_counted_only_where_they_were_scored():
    """A prediction on a token left out (its gold tag unmapped) is not counted wrong, so it is
    not listed as such."""
    table = {"NN": "NOUN", "DT": "DET"}
    result = compare(["DT", "NN", "FOO", "FOO"], ["DT", "NUMBER", "NUMBER", "NUMBER"], [True] * 4, ["DT", "NN", "NUMBER"], table)
    assert result["unmapped"] == {"gold": {"FOO": 2}, "predicted": {"NUMBER": 1}}
    assert result["tokens"] == 2 and result["accuracy"] == 0.5



def test_evaluate_tagger_scores_the_tags_of_tag_sents_in_chunks():
    from postagger.evaluate import evaluate_tagger
    from postagger.tagger import RNNTagger
    from postagger.train import TrainConfig
    from tests.conftest import tiny_corpus

    tagger = RNNTagger(TrainConfig(hidden=6, epochs=1, features=("suf2",))).fit(tiny_corpus(30))
    gold = tiny_corpus(7, seed=3) + [[("zyzzyva", "NN"), ("glorps", "VBZ")]]  # unknown words too
    chunks = []
    result = evaluate_tagger(tagger, gold, advance=chunks.append, chunk=3)
    assert chunks == [3, 3, 2]
    pairs = [(g, p, w) for s, t in zip(gold, tagger.tag_sents([[w for w, _ in s] for s in gold])) for (w, g), (_, p) in zip(s, t)]
    assert result["tokens"] == len(pairs)
    assert result["accuracy"] == pytest.approx(sum(g == p for g, p, _ in pairs) / len(pairs))
    unknown = [(g, p) for g, p, w in pairs if w in ("zyzzyva", "glorps")]
    assert result["unknown_tokens"] == 2
    assert result["unknown_accuracy"] == pytest.approx(sum(g == p for g, p in unknown) / 2)


def test_a_report_of_mostly_unseen_gold_tags_suggests_the_universal_tagset():
    gold, pred = ["AT", "NN", "AT", "NP", "VB"], ["DT", "NN", "DT", "NNP", "VB"]
    result = compare(gold, pred, [True] * 5, ["DT", "NN", "NNP", "VB"])
    assert "60% of the gold tokens have such tags: another tagset?" in format_report(result)
    same = compare(gold[1:2] * 20 + gold[:1], pred[1:2] * 20 + pred[:1], [True] * 21, ["DT", "NN", "NNP", "VB"])
    assert "another tagset" not in format_report(same)  # 1 token in 21: a rare tag, not another tagset


def test_universal_scoring_counts_no_gold_tag_as_unseen_when_the_model_predicts_its_image():
    """With a table, gold and model tags are compared in universal tags: NOUN is a tag the
    model can predict when it knows NN; X is not, when nothing it knows maps there."""
    from postagger.evaluate import universal_table

    table = universal_table({"NN": "NOUN", "DT": "DET", "VBZ": "VERB"})
    result = compare(["NOUN", "DET", "NN", "VERB"], ["NN", "DT", "NN", "DT"], [True] * 4, ["NN", "DT", "VBZ"], table)
    assert result["unseen_gold_tags"] == {} and result["accuracy"] == pytest.approx(3 / 4)
    assert compare(["X", "NOUN"], ["NN", "NN"], [True] * 2, ["NN", "DT"], table)["unseen_gold_tags"] == {"X": 1}


def test_every_universal_tag_maps_to_itself():
    from postagger.evaluate import UNIVERSAL_TAGS, universal_table

    for native in (None, {".": "X", "CONJ": "NOUN"}):  # a native table never renames a universal tag
        table = universal_table(native)
        assert {t: table[t] for t in UNIVERSAL_TAGS} == {t: t for t in UNIVERSAL_TAGS}


def test_no_unknown_words_is_no_unknown_accuracy():
    result = score(["DT", "NN"], ["DT", "VB"], [True, True])
    assert result["unknown_accuracy"] is None and result["unknown_tokens"] == 0
    assert "unknown words     n/a  (0 tokens)" in format_report(result)
    assert score(["DT"], ["DT"], [False])["known_accuracy"] is None


def test_the_reports_confusion_matrix_is_square_when_tags_outnumber_its_rows():
    tags = [f"T{i:02d}" for i in range(15)]
    gold = [t for i, t in enumerate(tags) for _ in range(20 - i)]  # T00 most frequent
    result = score(gold, gold[1:] + gold[:1], [True] * len(gold))
    lines = format_report(result, top_tags=12).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix, 12 most frequent tags"))
    header, rows = lines[start + 1], lines[start + 2 : start + 14]
    assert header.split() == tags[:12] and [row.split()[0] for row in rows] == tags[:12]
    assert all(len(row.split()) == 13 for row in rows)


def test_a_universal_report_does_not_suggest_the_universal_tagset():
    from postagger.evaluate import universal_table

    table = universal_table({"NN": "NOUN"})
    result = compare(["NUM", "NUM", "NOUN"], ["NN", "NN", "NN"], [True] * 3, ["NN"], table)
    assert result["unseen_gold_tags"] == {"NUM": 2}
    report = format_report(result)
    assert "gold tags the model never saw in training: NUM (2)" in report and "another tagset" not in report


def test_evaluate_counts_a_word_known_in_another_spelling_as_known():
    """"(" reaches a treebank model as the -LRB- it learned (vocab.other_spellings): known."""
    from postagger.evaluate import evaluate_tagger
    from postagger.tagger import RNNTagger
    from postagger.train import TrainConfig

    sents = [[("-LRB-", "-LRB-"), ("cup", "NN"), ("-RRB-", "-RRB-")], [("a", "DT"), ("cup", "NN")]] * 10
    tagger = RNNTagger(TrainConfig(hidden=8, epochs=3, features=("suf2",))).fit(sents)
    result = evaluate_tagger(tagger, [[("(", "-LRB-"), ("cup", "NN"), (")", "-RRB-"), ("“", "``")]])
    assert result["tokens"] == 4 and result["unknown_tokens"] == 1  # only “, which it never saw as ``
