import atexit
import os
import shutil
import tempfile

import pytest

from postagger.errors import CorpusNotFoundError

# Parsed corpora are cached in a folder of this test run's own, not in the user's cache.
os.environ["POSTAGGER_CACHE"] = tempfile.mkdtemp(prefix="postagger-test-cache-")
atexit.register(shutil.rmtree, os.environ["POSTAGGER_CACHE"], ignore_errors=True)


def tiny_corpus(n: int = 120, seed: int = 0) -> list[list[tuple[str, str]]]:
    """Sentences from a small grammar: DT (JJ) NN VBZ (DT NN) ., with a few rare nouns."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dets, adjs = ["the", "a", "every"], ["big", "red", "old", "quiet"]
    nouns = ["cat", "dog", "house", "tree", "idea", "river"]
    verbs = ["sees", "likes", "eats", "finds"]
    sents = []
    for i in range(n):
        s = [(str(rng.choice(dets)).capitalize(), "DT")]
        if rng.random() < 0.5:
            s.append((str(rng.choice(adjs)), "JJ"))
        noun = str(rng.choice(nouns)) if i % 10 else f"zorb{i}"
        s += [(noun, "NN"), (str(rng.choice(verbs)), "VBZ")]
        if rng.random() < 0.6:
            s += [(str(rng.choice(dets)), "DT"), (str(rng.choice(nouns)), "NN")]
        s.append((".", "."))
        sents.append(s)
    return sents


@pytest.fixture
def tiny():
    return tiny_corpus()


def write_tsv(path, sentences) -> None:
    """sentences as a two-column TSV file: word<TAB>tag lines, a blank line between sentences."""
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")


def require_corpus(name: str) -> None:
    """Skip when an NLTK corpus is missing, except in CI, where it must be there."""
    from postagger import corpora

    try:
        corpora.load_corpus(name, "native", "dev")
    except CorpusNotFoundError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} not installed: {err}")


def require_module(name: str) -> None:
    """Skip when an optional module is missing, except in CI, which installs the extras."""
    if os.environ.get("CI"):
        __import__(name)
    else:
        pytest.importorskip(name)


@pytest.fixture(scope="session")
def treebank_model(tmp_path_factory):
    """(folder, CliRunner result) of `postagger train` on 300 treebank sentences, 2 epochs."""
    from typer.testing import CliRunner

    from postagger.cli import app

    require_corpus("treebank")
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = CliRunner().invoke(app, ["train", "--max-sentences", "300", "--epochs", "2", "--hidden", "24", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result
