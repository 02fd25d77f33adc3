"""Your own files through the CLI: train and evaluate on CoNLL-U, word/TAG and TSV files, map
tagsets at evaluation, and turn every bad input into one line and exit code 1 or 2."""

import json
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from postagger import corpora
from postagger.cli import app
from tests.conftest import tiny_corpus, write_tsv

runner = CliRunner()
TO_UPOS = {"CONJ": "CCONJ", "PRT": "PART", ".": "PUNCT"}  # NLTK universal -> UD, where they differ


def conllu(sentences) -> str:
    """CoNLL-U with PTB tags as XPOS and UD tags (from NLTK's en-ptb mapping) as UPOS."""
    table = corpora.universal_tag_mapping("en-ptb")
    blocks = []
    for n, sent in enumerate(sentences, 1):
        rows = [f"# sent_id = {n}"]
        for i, (word, tag) in enumerate(sent, 1):
            universal = table[tag]
            rows.append(f"{i}\t{word}\t_\t{TO_UPOS.get(universal, universal)}\t{tag}\t_\t_\t_\t_\t_")
        blocks.append("\n".join(rows) + "\n")
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def test_sents(treebank_model):
    return corpora.load_corpus("treebank", "native", "test")[:150]


def evaluate(*args):
    result = runner.invoke(app, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_conllu_xpos_scores_exactly_as_the_nltk_corpus(treebank_model, test_sents, tmp_path):
    model, _ = treebank_model
    path = tmp_path / "held_out.conllu"
    path.write_text(conllu(test_sents), encoding="utf-8")
    from_file = evaluate("--model", str(model), "--file", str(path), "--column", "xpos")
    tagger_tokens = sum(map(len, test_sents))
    assert from_file["tokens"] == tagger_tokens
    # the same sentences through the library
    from postagger.tagger import RNNTagger

    tagger = RNNTagger.load(model)
    predicted = tagger.tag_sents([[w for w, _ in s] for s in test_sents])
    right = sum(p == g for ps, gs in zip(predicted, test_sents) for (_, p), (_, g) in zip(ps, gs))
    assert from_file["accuracy"] == pytest.approx(right / tagger_tokens)


def test_universal_mapping_agrees_from_upos_and_from_xpos(treebank_model, test_sents, tmp_path):
    model, _ = treebank_model
    path = tmp_path / "held_out.conllu"
    path.write_text(conllu(test_sents), encoding="utf-8")
    from_upos = evaluate("--model", str(model), "--file", str(path), "--tagset", "universal")
    from_xpos = evaluate("--model", str(model), "--file", str(path), "--column", "xpos", "--tagset", "universal")
    native = evaluate("--model", str(model), "--file", str(path), "--column", "xpos")
    assert from_upos["accuracy"] == from_xpos["accuracy"] >= native["accuracy"]
    assert from_upos["confusion"] == from_xpos["confusion"]
    assert set(from_upos["confusion"]["labels"]) <= {"ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRT", "PRON", "VERB", ".", "X"}
    assert from_upos["unmapped"] == {"gold": {}, "predicted": {}}


def test_unmapped_and_unseen_gold_tags_are_counted_not_hidden(treebank_model, tmp_path):
    model, _ = treebank_model
    path = tmp_path / "odd.tsv"
    path.write_text("The\tDT\ncat\tNN\nmeows\tMEOW\n.\t.\n\nA\tDT\ndog\tMEOW\n", encoding="utf-8")
    native = evaluate("--model", str(model), "--file", str(path))
    assert native["unseen_gold_tags"] == {"MEOW": 2} and native["tokens"] == 6
    universal = evaluate("--model", str(model), "--file", str(path), "--tagset", "universal")
    assert universal["unmapped"]["gold"] == {"MEOW": 2} and universal["tokens"] == 4
    assert (universal["data"], universal["tagset"], universal["model"]) == (str(path), "universal", str(model))
    text = runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(path), "--tagset", "universal"])
    assert "2 tokens left out" in text.stdout and "MEOW (2)" in text.stdout
    path.write_text("meow\tMEOW\n", encoding="utf-8")
    nothing = runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(path), "--tagset", "universal"])
    assert nothing.exit_code == 1 and nothing.stderr.startswith(f"error: {path}: nothing to score") and "MEOW (1)" in nothing.stderr
    assert nothing.stderr.count("\n") == 1


@pytest.mark.parametrize("suffix, render", [
    (".tsv", lambda s: "\n\n".join("\n".join(f"{w}\t{t}" for w, t in x) for x in s) + "\n"),
    (".txt", lambda s: "\n".join(" ".join(f"{w}/{t}" for w, t in x) for x in s) + "\n"),
])
def test_train_and_evaluate_on_files(tmp_path, suffix, render):
    train, dev = tmp_path / f"train{suffix}", tmp_path / f"dev{suffix}"
    train.write_text(render(tiny_corpus(150, seed=0)), encoding="utf-8")
    dev.write_text(render(tiny_corpus(40, seed=9)), encoding="utf-8")
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", "--train-file", str(train), "--dev-file", str(dev), "--hidden", "16",
                                 "--epochs", "4", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet
    report = evaluate("--model", str(out), "--file", str(dev))
    assert report["accuracy"] > 0.9 and report["tokens"] == sum(map(len, tiny_corpus(40, seed=9)))
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3, 4]
    assert {"loss", "dev_accuracy", "tokens_per_s", "seconds"} <= set(history["epochs"][0])


@pytest.mark.parametrize("column", ["upos", "xpos"])
def test_tag_writes_conllu_in_the_column_the_model_learned_and_reads_it_back(tmp_path, column):
    train = tmp_path / "train.conllu"
    train.write_text(conllu(tiny_corpus(150, seed=0)), encoding="utf-8")
    out = tmp_path / "m"
    trained = runner.invoke(app, ["train", "--train-file", str(train), "--column", column, "--hidden", "16",
                                  "--epochs", "2", "--out", str(out), "--quiet"])
    assert trained.exit_code == 0, trained.output
    tagged = runner.invoke(app, ["tag", "--model", str(out), "--format", "conllu", "The old dog sees a cat ."])
    assert tagged.exit_code == 0, tagged.output
    assert tagged.stdout.startswith("# sent_id = 1\n# text = The old dog sees a cat .\n1\tThe\t")
    rows = [r.split("\t") for r in tagged.stdout.splitlines() if r and not r.startswith("#")]
    filled, empty = (3, 4) if column == "upos" else (4, 3)
    assert all(r[filled] != "_" and r[empty] == "_" for r in rows), rows
    assert rows[0][filled] == ("DET" if column == "upos" else "DT")
    path = tmp_path / "tagged.conllu"
    path.write_text(tagged.stdout, encoding="utf-8")
    assert evaluate("--model", str(out), "--file", str(path), "--column", column)["accuracy"] == 1.0
    assert evaluate("--model", str(out), "--file", str(path))["accuracy"] == 1.0  # the model's column by default
    assert json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)["column"] == column
    assert f"tags           5 (native, CoNLL-U's {column.upper()} column)\n" in runner.invoke(app, ["info", str(out)]).stdout


@pytest.mark.parametrize("source, upos", [
    ({"corpus": "treebank", "tagset": "universal"}, False),
    ({"corpus": "treebank", "tagset": "native"}, False),
    ({"train_file": "a.conllu", "format": None, "column": "upos"}, True),
    ({"train_file": "a.conllu", "format": None, "column": "xpos"}, False),
    ({"train_file": "a.data", "format": "conllu", "column": "upos"}, True),
    ({"train_file": "a.txt", "format": None, "column": "upos"}, False),
    ({"train_file": "a.data", "format": None, "column": "upos"}, False),
    (None, False),
])
def test_the_conllu_column_follows_the_training_source(source, upos):
    from postagger.runs import tags_are_upos

    assert tags_are_upos(source) is upos


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.mark.parametrize("name, content, args, code, message", [
    ("bad.conllu", "1\tx\n", [], 1, "bad.conllu:1: expected 10"),
    ("bad.tsv", b"a\tDT\n\x80\tNN\n", [], 1, "bad.tsv:2: not valid UTF-8"),
    ("empty.tsv", "", [], 1, "empty.tsv: empty file"),
    ("blank.txt", "\n\n  \n", [], 1, "blank.txt: no sentences found"),
    ("data.xyz", "a/DT\n", [], 2, "cannot tell the format"),
    ("ok.xyz", "a\tDT\n", ["--format", "conllu"], 1, "ok.xyz:1: expected 10"),
])
def test_bad_files_for_train_and_evaluate(treebank_model, tmp_path, name, content, args, code, message):
    model, _ = treebank_model
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    out = tmp_path / "m"
    assert message in one_line_error(runner.invoke(app, ["train", "--train-file", str(path), "--out", str(out), *args]), code)
    assert not out.exists()
    assert message in one_line_error(runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(path), *args]), code)


def test_usage_errors_exit_2(treebank_model, tmp_path):
    model, _ = treebank_model
    one_line_error(runner.invoke(app, ["train", "--dev-file", "x.tsv"]), 2)
    for nltk_only in (["--tagset", "universal"], ["--corpus", "brown"], ["--keep-traces"]):
        ignored = runner.invoke(app, ["train", "--train-file", "x.tsv", "--out", str(tmp_path / "m"), *nltk_only])
        assert "--train-file trains on its own tags" in one_line_error(ignored, 2)
    one_line_error(runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(tmp_path / "none.tsv")]), 2)
    one_line_error(runner.invoke(app, ["evaluate", "--model", str(model), "--corpus", "nosuch"]), 2)
    one_line_error(runner.invoke(app, ["tag", "--model", str(model), "--input", str(tmp_path)]), 2)
    empty = runner.invoke(app, ["tag", "--model", str(model), "--input", ""], input="The cat .\n")  # not stdin
    assert "--input is empty" in one_line_error(empty, 2) and not empty.stdout
    tsv = tmp_path / "ok.tsv"
    write_tsv(tsv, tiny_corpus(3, seed=1))
    assert runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(tsv), "--quiet"]).exit_code == 0
    for corpus_only in (["--split", "dev"], ["--keep-traces"]):
        ignored = runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(tsv), *corpus_only])
        assert "a --file is scored whole" in one_line_error(ignored, 2)  # they were ignored
    stdin = runner.invoke(app, ["evaluate", "--model", str(model), "--file", "-"], input="a\tDT\n")
    assert "stdin (-) has no extension to tell its format by; pass --format" in one_line_error(stdin, 2)
    assert "two models named" in one_line_error(runner.invoke(app, ["info", str(model), "--model", str(tmp_path)]), 2)
    precious = tmp_path / "precious.txt"
    precious.write_text("mine")
    assert "refusing to replace" in one_line_error(runner.invoke(app, ["train", "--out", str(precious)]), 2)
    assert precious.read_text() == "mine"


def test_tag_handles_bad_bytes_long_sentences_blank_lines_and_any_script(treebank_model, tmp_path):
    model, _ = treebank_model
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\xc3\x28 broken\n")
    broken = runner.invoke(app, ["tag", "--model", str(model), "--input", str(bad)])
    assert "bad.txt:2: not valid UTF-8" in one_line_error(broken, 1)
    assert broken.stdout.startswith("fine/") and broken.stdout.count("\n") == 1  # the lines before it are not lost
    long_line = " ".join(["word"] * 2000)
    text = "\n".join(["Hello world .", "", long_line, "Привет мир 東京 ١٢٣ 🙂 naïve"]) + "\n"
    result = runner.invoke(app, ["tag", "--model", str(model), "--pretokenized", "--input", "-"], input=text)
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("\n")
    assert lines[1] == "" and len(lines[2].split()) == 2000 and len(lines[3].split()) == 6
    conll = runner.invoke(app, ["tag", "--model", str(model), "--format", "conllu", "--probs", "The cat sat ."])
    rows = [r.split("\t") for r in conll.stdout.strip().split("\n") if not r.startswith("#")]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"] and all(len(r) == 10 for r in rows)
    assert all(0 < float(r[9].removeprefix("prob=")) <= 1 for r in rows)


def test_universal_scoring_across_corpora_maps_each_side_with_its_own_table(treebank_model):
    from tests.conftest import require_corpus

    require_corpus("brown")
    model, _ = treebank_model
    report = evaluate("--model", str(model), "--corpus", "brown", "--split", "dev", "--tagset", "universal")
    brown_dev = corpora.load_corpus("brown", "universal", "dev")
    assert report["tokens"] == sum(map(len, brown_dev))
    assert report["unmapped"] == {"gold": {}, "predicted": {}}
    assert set(report["confusion"]["labels"]) <= {"ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRT", "PRON", "VERB", ".", "X"}
    assert report["accuracy"] > 0.5  # a 2-epoch, 300-sentence treebank model on another corpus (57 % here)


def test_universal_scoring_of_a_model_trained_on_a_ptb_file_maps_its_tags_as_ptb(tmp_path):
    from tests.conftest import require_corpus

    require_corpus("treebank")
    train = tmp_path / "ptb.txt"
    train.write_text("\n".join(" ".join(f"{w}/{t}" for w, t in s) for s in corpora.load_corpus("treebank")[:300]) + "\n",
                     encoding="utf-8")
    out = tmp_path / "m"
    trained = runner.invoke(app, ["train", "--train-file", str(train), "--hidden", "16", "--epochs", "2", "--out", str(out), "-q"])
    assert trained.exit_code == 0, trained.output
    native = evaluate("--model", str(out), "--corpus", "treebank", "--split", "dev")
    universal = evaluate("--model", str(out), "--corpus", "treebank", "--split", "dev", "--tagset", "universal")
    assert universal["unmapped"] == {"gold": {}, "predicted": {}}
    assert universal["tokens"] == native["tokens"] and universal["accuracy"] >= native["accuracy"] > 0.5


def test_a_universal_model_is_not_scored_in_native_tags(tmp_path):
    from tests.conftest import require_corpus

    require_corpus("treebank")
    out = tmp_path / "uni"
    trained = runner.invoke(app, ["train", "--tagset", "universal", "--max-sentences", "200", "--epochs", "1",
                                  "--hidden", "8", "--out", str(out), "-q"])
    assert trained.exit_code == 0, trained.output
    native = runner.invoke(app, ["evaluate", "--model", str(out), "--tagset", "native"])
    assert native.exit_code == 2 and not native.stdout
    assert "predicts universal tags, which cannot be scored as native ones" in native.stderr
    assert evaluate("--model", str(out))["tagset"] == "universal"


def test_universal_scoring_where_nltk_has_no_mapping_is_a_usage_error(treebank_model, tmp_path):
    from tests.conftest import require_corpus

    require_corpus("cess_esp")
    model, _ = treebank_model
    gold_unmapped = runner.invoke(app, ["evaluate", "--model", str(model), "--corpus", "cess_esp", "--tagset", "universal"])
    assert "no universal mapping for cess_esp's tags" in one_line_error(gold_unmapped, 2)
    spanish = tmp_path / "es"
    trained = runner.invoke(app, ["train", "--corpus", "cess_esp", "--max-sentences", "50", "--epochs", "1", "--hidden", "8",
                                  "--out", str(spanish), "-q"])
    assert trained.exit_code == 0, trained.output
    model_unmapped = runner.invoke(app, ["evaluate", "--model", str(spanish), "--corpus", "treebank", "--tagset", "universal"])
    assert "predicts cess_esp's tags, which NLTK has no universal mapping for" in one_line_error(model_unmapped, 2)


def test_known_and_unknown_words_are_those_of_the_training_sentences(treebank_model, test_sents, tmp_path):
    """A word is known when it occurs in the training data (every training word is in the word
    vocabulary, however rare): unknown_tokens and unknown_accuracy counted here, from the 300
    training sentences treebank_model was trained on and from tag_sents' tags."""
    from postagger.tagger import RNNTagger

    model, _ = treebank_model
    training_words = {w for s in corpora.load_corpus("treebank", "native", "train")[:300] for w, _ in s}
    path = tmp_path / "held_out.conllu"
    path.write_text(conllu(test_sents), encoding="utf-8")
    report = evaluate("--model", str(model), "--file", str(path), "--column", "xpos")
    predicted = RNNTagger.load(model).tag_sents([[w for w, _ in s] for s in test_sents])
    unknown_right = [p == g for ps, gs in zip(predicted, test_sents) for (w, p), (_, g) in zip(ps, gs) if w not in training_words]
    known_right = [p == g for ps, gs in zip(predicted, test_sents) for (w, p), (_, g) in zip(ps, gs) if w in training_words]
    assert any(w[0].isupper() and w not in training_words for s in test_sents for w, _ in s)  # capitalised unknowns
    assert report["tokens"] == len(unknown_right) + len(known_right) == sum(map(len, test_sents))
    assert report["unknown_tokens"] == len(unknown_right) > 0
    assert report["unknown_accuracy"] == pytest.approx(sum(unknown_right) / len(unknown_right), abs=1e-12)
    assert report["known_accuracy"] == pytest.approx(sum(known_right) / len(known_right), abs=1e-12)


# Universal Dependencies' UPOS -> NLTK's universal tagset, as README lists it (identity otherwise).
README_UPOS_TO_UNIVERSAL = {"PROPN": "NOUN", "AUX": "VERB", "CCONJ": "CONJ", "SCONJ": "ADP", "PART": "PRT",
                            "PUNCT": ".", "INTJ": "X", "SYM": "X"}
UD_TAGS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
           "SCONJ", "SYM", "VERB", "X"}


def ptb_to_ud(word: str, tag: str) -> str:
    """A PTB tag as UD would tag the word: enough of the UD guidelines to use all 17 UPOS tags."""
    subordinators = {"because", "if", "that", "whether", "although", "while", "since", "as", "unless"}
    auxiliaries = {"is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "'s"}
    if tag in ("NNP", "NNPS"):
        return "PROPN"
    if tag == "MD" or (tag.startswith("VB") and word.lower() in auxiliaries):
        return "AUX"
    if tag == "IN":
        return "SCONJ" if word.lower() in subordinators else "ADP"
    fixed = {"NN": "NOUN", "NNS": "NOUN", "JJ": "ADJ", "JJR": "ADJ", "JJS": "ADJ", "RB": "ADV", "RBR": "ADV",
             "RBS": "ADV", "WRB": "ADV", "DT": "DET", "PDT": "DET", "WDT": "DET", "PRP": "PRON", "PRP$": "PRON",
             "WP": "PRON", "WP$": "PRON", "EX": "PRON", "CD": "NUM", "CC": "CCONJ", "TO": "PART", "RP": "PART",
             "POS": "PART", "UH": "INTJ", "SYM": "SYM", "$": "SYM", "#": "SYM", "FW": "X", "LS": "X"}
    return fixed.get(tag, "VERB" if tag.startswith("VB") else "PUNCT")  # the rest: . , : `` '' -LRB- -RRB-


def test_upos_gold_tags_are_scored_through_the_readme_table(treebank_model, test_sents, tmp_path):
    """evaluate --tagset universal on a file whose UPOS column uses all 17 UD tags: gold tags
    mapped as README says (PROPN->NOUN, AUX->VERB, ..., INTJ/SYM->X), predicted PTB tags through
    NLTK's en-ptb table."""
    from nltk.tag.mapping import map_tag

    from postagger.tagger import RNNTagger

    model, _ = treebank_model
    extra = [("Oh", "UH"), (",", ","), ("she", "PRP"), ("can", "MD"), ("pay", "VB"), ("$", "$"), ("5", "CD"),
             ("+", "SYM"), ("ad", "FW"), ("hoc", "FW"), ("because", "IN"), ("Acme", "NNP"), ("gave", "VBD"),
             ("up", "RP"), ("and", "CC"), ("left", "VBD"), (".", ".")]
    sents = [*test_sents, extra]
    ud_sents = [[(w, ptb_to_ud(w, t)) for w, t in s] for s in sents]
    assert {t for s in ud_sents for _, t in s} == UD_TAGS
    path = tmp_path / "ud.conllu"
    path.write_text("\n".join("".join(f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_\n" for i, (w, t) in enumerate(s, 1))
                              for s in ud_sents), encoding="utf-8")
    report = evaluate("--model", str(model), "--file", str(path), "--tagset", "universal")
    gold = [README_UPOS_TO_UNIVERSAL.get(t, t) for s in ud_sents for _, t in s]
    predicted = RNNTagger.load(model).tag_sents([[w for w, _ in s] for s in sents])
    pred = [map_tag("en-ptb", "universal", t) for s in predicted for _, t in s]
    assert report["unmapped"] == {"gold": {}, "predicted": {}} and report["tokens"] == len(gold)
    assert {t: int(row["support"]) for t, row in report["per_tag"].items() if row["support"]} == Counter(gold)
    assert report["accuracy"] == pytest.approx(np.mean([g == p for g, p in zip(gold, pred)]), abs=1e-12)
    for tag, row in report["per_tag"].items():
        right = sum(g == p == tag for g, p in zip(gold, pred))
        assert row["recall"] == pytest.approx(right / gold.count(tag) if tag in gold else 0, abs=1e-12), tag


def test_evaluate_keeps_traces_as_the_model_was_trained_unless_told(treebank_model, tmp_path):
    """evaluate scores the corpus with traces (-NONE-) when the model was trained with them,
    without them otherwise; --keep-traces/--drop-traces override."""
    with_traces = sum(map(len, corpora.load_corpus("treebank", split="test", keep_traces=True)))
    without = sum(map(len, corpora.load_corpus("treebank", split="test", keep_traces=False)))
    assert with_traces > without
    traced = tmp_path / "traced"
    trained = runner.invoke(app, ["train", "--keep-traces", "--max-sentences", "100", "--epochs", "1", "--hidden", "8",
                                  "--out", str(traced), "-q"])
    assert trained.exit_code == 0, trained.output
    assert evaluate("--model", str(traced))["tokens"] == with_traces
    assert evaluate("--model", str(traced), "--drop-traces")["tokens"] == without
    model, _ = treebank_model  # trained without traces
    assert evaluate("--model", str(model))["tokens"] == without
    assert evaluate("--model", str(model), "--keep-traces")["tokens"] == with_traces


def test_a_file_models_tags_are_mapped_by_the_table_that_knows_them_ptb_first():
    from postagger.evaluate import table_for_tags, universal_table

    ptb, brown = (corpora.universal_tag_mapping(name) for name in ("en-ptb", "en-brown"))
    assert table_for_tags(["NN", "EX", "UH", "WP$"], corpora.universal_tag_mapping) == universal_table(ptb)  # both know them
    assert table_for_tags(["NN", "NP$", "BEZ"], corpora.universal_tag_mapping) == universal_table(brown)  # Brown's own
    assert table_for_tags(["NOUN", "PROPN", "AUX"], corpora.universal_tag_mapping) == universal_table()  # UD tags


def test_output_is_utf8_whatever_the_locale_and_reads_back(treebank_model, tmp_path):
    """latin-1 could not write most words (a traceback), and cp1252 wrote what evaluate, which
    reads UTF-8 only, then refused."""
    import os
    import subprocess
    import sys

    model, _ = treebank_model
    for encoding in ("latin-1", "cp1252", "ascii"):
        env = {**os.environ, "PYTHONIOENCODING": encoding, "PYTHONPATH": os.getcwd()}
        done = subprocess.run([sys.executable, "-m", "postagger", "tag", "--model", str(model), "-q", "你好 café ."],
                              env=env, capture_output=True)
        assert done.returncode == 0 and done.stderr == b"", (encoding, done.stderr)
        assert done.stdout.decode("utf-8").startswith("你好/"), encoding
        (tmp_path / "out.txt").write_bytes(done.stdout)
        scored = runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(tmp_path / "out.txt"), "--json"])
        assert scored.exit_code == 0 and json.loads(scored.stdout)["tokens"] == 3


def test_train_reads_stdin_as_evaluate_does(tmp_path):
    text = "".join(" ".join(f"{w}/{t}" for w, t in sent) + "\n" for sent in tiny_corpus(40))
    result = runner.invoke(app, ["train", "--train-file", "-", "--format", "tagged", "--hidden", "4", "--epochs", "1",
                                 "--out", str(tmp_path / "m"), "-q"], input=text)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "weights.npz").exists()
    scored = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "m"), "--file", "-", "--format", "tagged"], input=text)
    assert scored.exit_code == 0 and scored.stdout.startswith("<stdin>, native tags, model ")  # as errors name it


def test_training_on_the_dev_file_is_warned_of(tmp_path):
    """Even with --quiet; against the sentences trained on, --max-sentences' first ones."""
    sentences = list({tuple(s): None for s in map(tuple, tiny_corpus(300))})[:60]
    assert len(sentences) == 60
    train, part, later = tmp_path / "train.tsv", tmp_path / "part.tsv", tmp_path / "later.tsv"
    write_tsv(train, sentences)
    write_tsv(part, sentences[:10])
    write_tsv(later, sentences[40:])
    args = ["train", "--train-file", str(train), "--hidden", "4", "--epochs", "1", "--out", str(tmp_path / "m"), "-q"]
    for dev in (train, part):
        same = runner.invoke(app, [*args, "--dev-file", str(dev)])
        assert same.exit_code == 0, same.output
        assert same.stderr.startswith("warning: 100% of the dev sentences are training sentences too (the same file?)")
    first = runner.invoke(app, [*args, "--dev-file", str(later), "--max-sentences", "20"])
    assert first.exit_code == 0 and first.stderr == "", first.output
    (tmp_path / "dev.tsv").write_text("A\tDT\nnew\tJJ\nsentence\tNN\n", encoding="utf-8")
    other = runner.invoke(app, [*args, "--dev-file", str(tmp_path / "dev.tsv")])
    assert other.exit_code == 0 and "warning" not in other.stderr, other.output


def test_a_file_of_one_tag_is_scored_without_a_warning(treebank_model, tmp_path):
    model, _ = treebank_model
    (tmp_path / "one.tsv").write_text("the\tDT\n")
    result = runner.invoke(app, ["evaluate", "--model", str(model), "--file", str(tmp_path / "one.tsv"), "--json", "-q"])
    assert result.exit_code == 0 and result.stderr == ""



def test_train_refuses_an_out_it_could_not_save_to_or_would_empty(tmp_path):
    """Before any training: a model folder holding the user's own files (a save replaces the
    folder whole), a symbolic link, a name too long for the save's temporary folder."""
    data = tmp_path / "train.tsv"
    write_tsv(data, tiny_corpus(10))
    args = ["train", "--train-file", str(data), "--epochs", "1", "--hidden", "4", "-q", "--out"]
    model = tmp_path / "m"
    assert runner.invoke(app, [*args, str(model)]).exit_code == 0
    (model / "NOTES.md").write_text("mine", encoding="utf-8")
    before = {path.name: path.read_bytes() for path in model.iterdir()}
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    for out, message in [(model, "holds files postagger did not write (NOTES.md)"), (tmp_path / "link", "a symbolic link"),
                         (tmp_path / ("a" * 240), "too long to save under here"),
                         (tmp_path / "m2.checkpoint", "a name ending in .checkpoint is a checkpoint's")]:
        result = runner.invoke(app, [*args, str(out)])
        assert result.exit_code == 2 and message in result.stderr and "epoch" not in result.stderr, result.stderr
    assert {path.name: path.read_bytes() for path in model.iterdir()} == before


def test_format_options_without_a_file_and_a_dev_file_of_other_tags(tmp_path):
    assert "describe a --train-file" in runner.invoke(app, ["train", "--format", "tsv"]).stderr
    assert "describe a --file" in runner.invoke(app, ["evaluate", "--column", "xpos"]).stderr
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    write_tsv(train, tiny_corpus(10))
    write_tsv(dev, [[(word, tag.lower()) for word, tag in sentence] for sentence in tiny_corpus(4, seed=1)])
    result = runner.invoke(app, ["train", "--train-file", str(train), "--dev-file", str(dev), "--epochs", "1", "--hidden", "4",
                                 "--out", str(tmp_path / "m")])
    assert result.exit_code == 0 and "% of the dev tokens have tags that no training token has" in result.stderr


def test_a_universal_model_scores_a_file_of_ptb_tags_through_the_ptb_table(tmp_path, test_sents):
    model, gold = tmp_path / "universal", tmp_path / "gold.tagged"
    trained = runner.invoke(app, ["train", "--tagset", "universal", "--max-sentences", "200", "--epochs", "1", "--hidden", "8",
                                  "--out", str(model), "-q"])
    assert trained.exit_code == 0, trained.output
    gold.write_text("".join(" ".join(f"{w}/{t}" for w, t in s) + "\n" for s in test_sents[:40]), encoding="utf-8")
    result = evaluate("--model", str(model), "--file", str(gold), "--tagset", "universal")
    assert result["tokens"] == sum(len(s) for s in test_sents[:40]) and not result["unmapped"]["gold"]
