"""NLTK corpora: splits, traces, tagsets, search paths, the missing-corpus message and the cache
of parsed corpora."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from postagger import corpora
from postagger.errors import CorpusNotFoundError, UsageError
from tests.conftest import require_corpus


@pytest.fixture(scope="module")
def treebank():
    require_corpus("treebank")


def test_treebank_splits_are_80_10_10_in_corpus_order(treebank):
    parts = {s: corpora.load_corpus("treebank", split=s) for s in ("train", "dev", "test", "all")}
    n = len(parts["all"])
    assert [len(parts[s]) for s in ("train", "dev", "test")] == [int(0.8 * n), int(0.9 * n) - int(0.8 * n), n - int(0.9 * n)]
    assert parts["train"] + parts["dev"] + parts["test"] == parts["all"]
    assert parts["train"][0][:2] == [("Pierre", "NNP"), ("Vinken", "NNP")]


def test_indian_splits_each_language_file_80_10_10():
    require_corpus("indian")
    import nltk

    def clean(sents):  # as every corpus is read: a sentence with a blank word or tag goes whole, as do empty ones
        return [s for s in sents if s and all(w.strip() and t.strip() for w, t in s)]

    files = [clean(nltk.corpus.indian.tagged_sents(f)) for f in nltk.corpus.indian.fileids()]
    assert len(files) == 4  # bangla, hindi, marathi, telugu
    incomplete = [s for f in nltk.corpus.indian.fileids() for s in nltk.corpus.indian.tagged_sents(f)
                  if any(not t.strip() for _, t in s)]
    assert incomplete  # hindi.pos has words with no _TAG: those sentences are left out, not cut short
    for split, (a, b) in {"train": (0, 0.8), "dev": (0.8, 0.9), "test": (0.9, 1)}.items():
        expected = [s for sents in files for s in sents[int(a * len(sents)) : int(b * len(sents))]]
        assert [[tuple(p) for p in s] for s in corpora.load_corpus("indian", split=split)] == expected, split
    assert len(corpora.load_corpus("indian", split="all")) == sum(map(len, files))


def test_a_name_can_pick_files_of_a_corpus():
    """NAME:FILE,... reads those files only, each split 80/10/10 as indian's files are: one
    language of indian is the Hindi part of indian's own splits."""
    require_corpus("indian")
    assert corpora.corpus_files("indian:hindi.pos") == ("indian", ("hindi.pos",))
    assert corpora.corpus_files("brown: ca01,ca02 ,ca01") == ("brown", ("ca01", "ca02"))
    assert corpora.corpus_files("treebank") == ("treebank", ())
    assert corpora.canonical_name("indian: hindi.pos , marathi.pos,hindi.pos") == "indian:hindi.pos,marathi.pos"
    assert corpora.canonical_name("treebank") == "treebank"
    for bad in ("indian:", ":hindi.pos", "indian:hindi.pos,,marathi.pos"):
        with pytest.raises(UsageError, match="name the corpus, then its files after the colon"):
            corpora.load_corpus(bad)
    everything = corpora.load_corpus("indian", split="all")
    bangla = len(corpora.load_corpus("indian:bangla.pos", split="all"))
    hindi = corpora.load_corpus("indian:hindi.pos", split="all")
    assert hindi == everything[bangla : bangla + len(hindi)] and len(hindi) > 100
    n = len(hindi)
    for split, (a, b) in {"train": (0, 0.8), "dev": (0.8, 0.9), "test": (0.9, 1)}.items():
        assert corpora.load_corpus("indian:hindi.pos", split=split) == hindi[int(a * n) : int(b * n)], split
    both = corpora.load_corpus("indian:hindi.pos,marathi.pos", split="train")
    assert both == corpora.load_corpus("indian:hindi.pos") + corpora.load_corpus("indian:marathi.pos")
    with pytest.raises(UsageError, match=r"corpus 'indian' has no file 'urdu.pos'; its files: bangla.pos, hindi.pos, "):
        corpora.load_corpus("indian:urdu.pos")
    with pytest.raises(UsageError, match="no universal mapping for indian's tags"):
        corpora.load_corpus("indian:hindi.pos", "universal")
    assert corpora.native_tagset_name("brown:ca01") == "en-brown" and corpora.native_tagset_name("indian:hindi.pos") is None


def test_treebank_drops_traces_unless_asked(treebank):
    plain = corpora.load_corpus("treebank", split="all")
    traced = corpora.load_corpus("treebank", split="all", keep_traces=True)
    assert not any(t == "-NONE-" for s in plain for _, t in s)
    n_traces = sum(t == "-NONE-" for s in traced for _, t in s)
    assert sum(map(len, traced)) - sum(map(len, plain)) == n_traces
    assert 0.05 < n_traces / sum(map(len, traced)) < 0.08


def test_cess_esp_drops_its_elided_subjects_unless_asked():
    class Reader:  # cess_esp's layout, without parsing the whole corpus here
        def tagged_sents(self):
            return [[("*0*", "sn.e-SUJ"), ("Dijo", "vmis3s0"), ("que", "cs"), ("*0*", "sn.e.1n-SUJ"), ("vendría", "vmic3s0")],
                    [("*0*", "sn.e-SUJ")], [("Sí", "rn")]]

    plain, sizes = corpora._parse(Reader(), "cess_esp", "native", keep_traces=False)
    assert plain == ((("Dijo", "vmis3s0"), ("que", "cs"), ("vendría", "vmic3s0")), (("Sí", "rn"),)) and sizes == (2,)
    traced, sizes = corpora._parse(Reader(), "cess_esp", "native", keep_traces=True)
    assert traced == tuple(map(tuple, Reader().tagged_sents())) and sizes == (3,)
    untouched, _ = corpora._parse(Reader(), "alpino", "native", keep_traces=False)  # another corpus keeps *0*
    assert untouched == traced


def test_universal_tagset_has_the_twelve_tags(treebank):
    tags = {t for s in corpora.load_corpus("treebank", "universal", "dev") for _, t in s}
    assert tags <= {"NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT", ".", "X"}
    assert len(tags) >= 11


def test_conll2000_dev_is_the_end_of_train_txt():
    require_corpus("conll2000")
    train, dev, test = (corpora.load_corpus("conll2000", split=s) for s in ("train", "dev", "test"))
    assert len(train) + len(dev) == 8936 and len(dev) == 8936 - int(0.9 * 8936)
    assert len(test) == 2012
    assert train[0][0] == ("Confidence", "NN")


def test_loaded_sentences_are_fresh_copies(treebank):
    first = corpora.load_corpus("treebank", split="dev")
    first[0].clear()
    assert corpora.load_corpus("treebank", split="dev")[0]


def test_bad_names_are_usage_errors():
    with pytest.raises(UsageError, match="unknown corpus 'nosuch'"):
        corpora.load_corpus("nosuch")
    with pytest.raises(UsageError, match="split"):
        corpora.load_corpus("treebank", split="validation")
    with pytest.raises(UsageError, match="no universal mapping"):
        corpora.load_corpus("indian", "universal")


def test_missing_corpus_tries_one_download_then_says_how_to_get_it(monkeypatch, tmp_path):
    import nltk

    corpora._load.cache_clear()
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setattr(corpora, "PROJECT_DATA", tmp_path / "corpora")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    attempts = []
    monkeypatch.setattr(nltk, "download", lambda *a, **k: attempts.append(a) or False)
    with pytest.raises(CorpusNotFoundError) as err:
        corpora.load_corpus("treebank")
    corpora._load.cache_clear()
    message = str(err.value)
    assert len(attempts) == 1 and "\n" not in message
    assert f"python -m nltk.downloader -d {tmp_path / 'corpora'} treebank" in message
    assert "holding corpora/treebank.zip" in message


def test_missing_tagset_mapping_names_where_it_goes(treebank, monkeypatch, tmp_path):
    import nltk

    source = corpora._find("corpora/treebank")
    corpora._load.cache_clear()
    (tmp_path / "corpora").mkdir()
    shutil.copy(source, tmp_path / "corpora" / "treebank.zip")
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    monkeypatch.setenv("POSTAGGER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpora, "PROJECT_DATA", tmp_path / "project")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(nltk, "download", lambda *a, **k: False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorpusNotFoundError) as err:
        corpora.load_corpus("treebank", "universal")
    corpora._load.cache_clear()
    message = str(err.value)
    assert "python -m nltk.downloader -d project universal_tagset" in message
    assert "holding taggers/universal_tagset.zip" in message


def test_search_path_order(monkeypatch, tmp_path):
    monkeypatch.setenv("NLTK_DATA", str(tmp_path))
    paths = corpora.nltk_data_paths()
    assert paths[0] == str(tmp_path)
    assert paths[1] == str(corpora.PROJECT_DATA) and corpora.PROJECT_DATA.name == "corpora"


def test_universal_mapping_has_only_explicit_entries(treebank):
    mapping = corpora.universal_tag_mapping("en-ptb")
    assert mapping["NN"] == "NOUN" and mapping["VBZ"] == "VERB"
    assert "NOT-A-TAG" not in mapping


# ---------------------------------------------------------------- the cache of parsed corpora


@pytest.fixture
def indian_copy(monkeypatch, tmp_path):
    """indian.zip copied into a fresh NLTK_DATA, an empty cache folder, and a count of parses."""
    require_corpus("indian")
    source = corpora._find("corpora/indian")
    data = tmp_path / "nltk_data"
    (data / "corpora").mkdir(parents=True)
    shutil.copy(source, data / "corpora" / "indian.zip")
    monkeypatch.setenv("NLTK_DATA", str(data))
    monkeypatch.setenv("POSTAGGER_CACHE", str(tmp_path / "cache"))
    parses = []
    parse = corpora._parse
    monkeypatch.setattr(corpora, "_parse", lambda *args: parses.append(args[1]) or parse(*args))
    corpora._load.cache_clear()
    yield data / "corpora" / "indian.zip", tmp_path / "cache" / "indian-native.json", parses
    corpora._load.cache_clear()


def load_afresh(name: str = "indian"):
    corpora._load.cache_clear()  # the in-process cache; the one on disk stays
    return corpora.load_corpus(name, split="all")


def test_a_parse_is_cached_and_read_back_until_the_corpus_changes(indian_copy):
    corpus_file, cached, parses = indian_copy
    first = load_afresh()
    assert cached.is_file() and parses == ["indian"]
    assert load_afresh() == first and parses == ["indian"]  # read from the cache, not parsed
    with zipfile.ZipFile(corpus_file, "a") as archive:  # the corpus file changed
        archive.writestr("indian/NOTE", "added\n")
    assert load_afresh() == first and parses == ["indian", "indian"]
    assert load_afresh() == first and len(parses) == 2


def test_a_name_picking_files_keeps_a_parse_of_its_own(indian_copy):
    _, cached, parses = indian_copy
    first = load_afresh("indian:hindi.pos")
    assert (cached.parent / "indian@hindi.pos-native.json").is_file() and parses == ["indian:hindi.pos"]
    assert load_afresh("indian:hindi.pos") == first and parses == ["indian:hindi.pos"]  # read back
    assert load_afresh("indian") != first and parses == ["indian:hindi.pos", "indian"]  # not mistaken for the whole


def test_a_corpus_laid_again_with_other_times_keeps_its_parse(indian_copy, tmp_path, monkeypatch):
    """The cache goes by the files' contents: a data folder copied elsewhere, or laid again with
    new modification times, is not parsed again."""
    corpus_file, cached, parses = indian_copy
    first = load_afresh()
    os.utime(corpus_file, ns=(1, 1))
    moved = tmp_path / "moved"
    shutil.copytree(corpus_file.parent.parent, moved)
    monkeypatch.setenv("NLTK_DATA", str(moved))
    assert load_afresh() == first and parses == ["indian"]


def test_a_corpus_found_only_in_nltks_own_paths_is_cached_too(indian_copy, monkeypatch, tmp_path):
    import nltk

    corpus_file, cached, parses = indian_copy
    monkeypatch.setenv("NLTK_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(corpora, "PROJECT_DATA", tmp_path / "empty")
    monkeypatch.setattr(nltk.data, "path", [str(corpus_file.parent.parent), *nltk.data.path])  # NLTK's own paths
    assert corpora._find_here("corpora/indian") is None and corpora._find("corpora/indian") == str(corpus_file)
    first = load_afresh()
    assert load_afresh() == first and parses == ["indian"] and cached.is_file()


def test_a_damaged_corpus_is_one_line_naming_its_file(indian_copy, tmp_path):
    from typer.testing import CliRunner

    from postagger.cli import app
    from postagger.errors import DataError

    corpus_file, _, _ = indian_copy
    whole = corpus_file.read_bytes()
    corpus_file.write_bytes(whole[:3000])  # cut short: not a zip any more
    try:
        with pytest.raises(DataError, match=f"^{corpus_file}: damaged .*python -m nltk.downloader -d .* indian$"):
            load_afresh()
        listed = CliRunner().invoke(app, ["corpora", "indian"])
        assert listed.exit_code == 0 and f"{corpus_file}: damaged" in listed.stdout
        trained = CliRunner().invoke(app, ["train", "--corpus", "indian", "--out", str(tmp_path / "m")])
        assert trained.exit_code == 1 and trained.stderr.count("\n") == 1 and "damaged" in trained.stderr
    finally:  # NLTK keeps the folders it has searched: later lookups in this process may come here
        corpus_file.write_bytes(whole)


def _fresh_postagger(args, data, tmp_path):
    """postagger in a fresh process (NLTK keeps a corpus reader once loaded) on data alone."""
    env = {**os.environ, "NLTK_DATA": str(data), "POSTAGGER_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "postagger", *args], capture_output=True, text=True, env=env)


def test_a_corpus_linked_from_outside_the_data_folder_is_used_or_refused_as_nltk_does(tmp_path):
    """NLTK 3.10 does not follow a link out of its data folder. A parse cached beforehand was
    used all the same, and then, without the cache, the corpus was "not found"."""
    require_corpus("indian")
    source = corpora._find("corpora/indian")
    data = tmp_path / "data"
    (data / "corpora").mkdir(parents=True)
    (data / "corpora" / "indian.zip").symlink_to(source)
    probe = subprocess.run([sys.executable, "-c", "import nltk; nltk.data.find('corpora/indian.zip')"],
                           env={**os.environ, "NLTK_DATA": str(data)}, capture_output=True, text=True)
    follows = probe.returncode == 0
    train = ["train", "--corpus", "indian:hindi.pos", "--epochs", "1", "--hidden", "8", "--no-parallel", "-q"]
    for attempt in range(2):  # the second with a parse in the cache, if the first made one
        result = _fresh_postagger([*train, "--out", str(tmp_path / f"m{attempt}")], data, tmp_path)
        if follows:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
            assert result.stderr.startswith(f"error: corpus 'indian' is at {data / 'corpora' / 'indian.zip'}, a link to ")
            assert "copy the file there instead of linking it" in result.stderr
    copied = tmp_path / "copied"
    (copied / "corpora").mkdir(parents=True)
    shutil.copy(source, copied / "corpora" / "indian.zip")
    assert _fresh_postagger([*train, "--out", str(tmp_path / "m")], copied, tmp_path).returncode == 0


def test_a_corpus_file_not_in_its_format_is_one_line_naming_the_corpus(tmp_path):
    """A conll2000 line with one column gave a ValueError traceback; the download advice named
    a package "conll2000.zip", which does not exist."""
    require_corpus("conll2000")
    data = tmp_path / "data"
    with zipfile.ZipFile(corpora._find("corpora/conll2000")) as archive:
        archive.extractall(data / "corpora")
    test_file = data / "corpora" / "conll2000" / "test.txt"
    lines = test_file.read_text().splitlines(keepends=True)
    test_file.write_text("".join(lines[:4] + ["onlyoneword\n"] + lines[5:]))
    result = _fresh_postagger(["train", "--corpus", "conll2000", "--out", str(tmp_path / "m")], data, tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {data / 'corpora' / 'conll2000'}: damaged (Inconsistent number of columns")
    assert result.stderr.endswith(f"delete it and get it again with: python -m nltk.downloader -d {data} conll2000\n")
    listed = _fresh_postagger(["corpora", "conll2000"], data, tmp_path)
    assert listed.returncode == 0 and "damaged" in listed.stdout


def test_a_damaged_universal_mapping_is_one_line(tmp_path):
    require_corpus("treebank")
    data = tmp_path / "data"
    (data / "corpora").mkdir(parents=True)
    (data / "taggers").mkdir()
    shutil.copy(corpora._find("corpora/treebank"), data / "corpora" / "treebank.zip")
    mapping = corpora._find("taggers/universal_tagset")
    with zipfile.ZipFile(mapping) as source, zipfile.ZipFile(data / "taggers" / "universal_tagset.zip", "w") as copy:
        for info in source.infolist():
            content = source.read(info)
            copy.writestr(info, content[: len(content) // 2] + b"\nno tab here\n" if info.filename.endswith(".map") else content)
    result = _fresh_postagger(["train", "--tagset", "universal", "--out", str(tmp_path / "m")], data, tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {data / 'taggers' / 'universal_tagset.zip'}: damaged")
    assert result.stderr.endswith(" universal_tagset\n")


def test_a_corpus_without_sentences_trains_nothing(tmp_path):
    (tmp_path / "data" / "corpora" / "indian").mkdir(parents=True)  # there, but empty
    env = {**os.environ, "NLTK_DATA": str(tmp_path / "data"), "POSTAGGER_CACHE": "off"}
    result = subprocess.run([sys.executable, "-m", "postagger", "train", "--corpus", "indian", "--out", str(tmp_path / "m")],
                            capture_output=True, text=True, env=env)  # a fresh process: NLTK keeps a corpus reader once loaded
    assert result.returncode == 1 and result.stderr.startswith("error: corpus 'indian' has no tagged sentences to train on")
    assert result.stderr.count("\n") == 1 and not (tmp_path / "m").exists()


def test_a_damaged_or_unwritable_cache_is_skipped(indian_copy, monkeypatch, tmp_path):
    _, cached, parses = indian_copy
    first = load_afresh()
    cached.write_text('{"stamp": ', encoding="utf-8")  # cut short
    assert load_afresh() == first and len(parses) == 2
    assert load_afresh() == first and len(parses) == 2  # rewritten whole
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv("POSTAGGER_CACHE", str(blocked))
    assert load_afresh() == first and len(parses) == 3
    monkeypatch.setenv("POSTAGGER_CACHE", "off")
    cached.unlink()
    assert load_afresh() == first and len(parses) == 4 and not cached.exists()


def test_a_cached_corpus_loads_without_importing_nltk(indian_copy):
    load_afresh()
    code = "import sys; from postagger import corpora; corpora.load_corpus('indian'); print('nltk' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
