"""Vocabularies, input groups and padded batches."""

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postagger.encoding import (Encoder, encode_corpus, length_batches, longest_first_batches, make_batch, rare_word_dropout,
                                token_positions)
from tests.reference import group_string
from postagger.vocab import PAD_ID, UNK_ID, Vocab, group_column, normalise, normalise_all, shape, shape_by_characters, shapes

SENTS = [["The", "cat", "sat"], ["Dogs", "bark"], ["The", "1984", "cat", "ran", "away"]]
TAGS = [["DT", "NN", "VBD"], ["NNS", "VBP"], ["DT", "CD", "NN", "VBD", "RB"]]


def vocabs():
    return {g: Vocab(sorted({group_string(g, w) for s in SENTS for w in s})) for g in ("word", "lower", "suf2", "shape")}


def test_vocab_round_trip_and_specials():
    v = Vocab(["a", "b", "a"])
    assert v.itos == ["<pad>", "<unk>", "a", "b"]
    assert v.decode(v.encode(["b", "a", "zzz"])) == ["b", "a", "<unk>"]
    assert Vocab.from_list(v.to_list()).itos == v.itos
    with pytest.raises(ValueError):
        Vocab.from_list(["a", "b"])


def test_vocab_from_counts_orders_by_frequency_and_drops_rare():
    from collections import Counter
    v = Vocab.from_counts(Counter({"x": 1, "y": 5, "z": 5}), min_count=2)
    assert v.itos[2:] == ["y", "z"]


def test_vocab_is_one_dict_the_garbage_collector_skips():
    """A dict of strings and ints is not tracked by the garbage collector; a list of the same
    strings would be walked by its collections (a loaded tagger's first tag_sents paid for it)."""
    v = Vocab.from_list(["<pad>", "<unk>"] + [f"w{i}" for i in range(1000)])
    assert not gc.is_tracked(v.stoi) and "itos" not in vars(v)
    assert len(v) == 1002 and v.index("w7") == 9 and v.decode([9, 1]) == ["w7", "<unk>"]


def test_groups():
    assert [group_column(g, ["Year-1999", "Running"], normalise_all(["Year-1999", "Running"])) for g in ("lower", "suf3", "pre2")] == [
        ["year-0000", "running"], ["000", "ing"], ["ye", "ru"]]
    assert shape("McDonald's") == "XxXx'x" and shape("3-D") == "d-X" and shape("U.S.") == "X.X."
    # whole columns at once, joined by newlines: the same as word by word, final sigma and
    # a newline inside a word included
    words = ["ΌΣ", "Σ", "ΣΑΣ", "a\nB", "١٩٨٤", "İstanbul", "Year-1999", "", "McDonald's", "Zoë"]
    assert normalise_all(words) == [normalise(w) for w in words]
    assert normalise_all(words[:1]) == ["ός"]
    assert shapes(words) == [shape_by_characters(w) for w in words]
    ascii_words = ["McDonald's", "3-D", "U.S.", "", "a\nb"]
    assert normalise_all(ascii_words[:4] + ["Year-1999"]) == ["mcdonald's", "0-d", "u.s.", "", "year-0000"]
    assert normalise_all(ascii_words) == [normalise(w) for w in ascii_words]
    assert shapes(ascii_words) == [shape_by_characters(w) for w in ascii_words]
    assert shapes(ascii_words[:4]) == ["XxXx'x", "d-X", "X.X.", ""]
    with pytest.raises(ValueError):
        group_column("bogus", ["a"], ["a"])


def test_encode_round_trip_through_types():
    v = vocabs()
    corpus = encode_corpus(Encoder(v), SENTS, TAGS, Vocab(sorted({t for s in TAGS for t in s})))
    assert list(corpus.lengths) == [3, 2, 5]
    words = v["word"].decode(corpus.ids("word"))
    assert words == [w for s in SENTS for w in s]
    assert v["lower"].decode(corpus.ids("lower"))[6] == "0000"
    # the two "The" tokens share one type
    assert corpus.types[0] == corpus.types[5]


def test_encoder_cache_rows_stay_with_their_words_across_calls():
    """A cold call numbers its words in order; a later call finds the old words' rows and
    appends the new ones, and each row's group ids are those of its word."""
    v = vocabs()
    encoder = Encoder(v)
    encoder.encode([["The", "cat"], ["cat", "sat"]])
    assert encoder.token_rows([["The", "cat", "sat"]]).tolist() == [0, 1, 2]
    _, type_ids = encoder.encode([["Dogs", "sat"], ["The", "bark"]])
    rows = encoder.token_rows([["Dogs", "sat", "The", "bark"]])
    assert rows.tolist() == [3, 2, 0, 4]
    assert v["word"].decode(type_ids[0][1:]) == ["Dogs", "sat", "The", "bark"]
    table = encoder.table(0, encoder.size)  # (G, rows)
    assert np.array_equal(table[:, rows], type_ids[:, 1:])
    assert encoder.token_rows([["ran", "away"]]).tolist() == [5, 6]  # all new, after the others


def test_encode_and_token_rows_past_the_cache_tables_first_size():
    """A call that grows the cache's id table (1,024 rows at first) reads the grown table."""
    v = vocabs()
    words = ["The", "cat"] + [f"Word{i}" for i in range(1500)] + ["sat"]
    expected = [[v[g].index(group_string(g, w)) for w in words] for g in v]
    assert Encoder(v).encode([words])[1][:, 1:].tolist() == expected
    encoder = Encoder(v)
    assert encoder.ids_of_rows(encoder.token_rows([words[:3], words[3:]])).tolist() == expected
    assert encoder.ids_of_rows(encoder.token_rows([words[::-1]])).tolist() == [column[::-1] for column in expected]


def test_token_rows_number_words_as_encode_does_and_find_them_again():
    """token_rows (tagging's encoding) gives every token its word's row, the rows of the same
    cache as encode: new words appended in order of appearance, met words found again, and each
    row's group ids those of its word's strings."""
    v = vocabs()
    encoder = Encoder(v)
    assert encoder.token_rows([["The", "cat"], [], ["cat", "sat"]]).tolist() == [0, 1, 1, 2]
    assert encoder.token_rows([["Dogs", "sat"], ["The", "bark", "Dogs"]]).tolist() == [3, 2, 0, 4, 3]
    assert encoder.token_rows([["sat", "The"]]).tolist() == [2, 0]  # nothing new
    encoder.encode([["ran", "cat"]])
    assert encoder.token_rows([["ran", "cat"]]).tolist() == [5, 1]  # the same cache
    words = ["The", "cat", "sat", "Dogs", "bark", "ran"]
    expected = [[v[g].index(group_string(g, w)) for w in words] for g in v]
    assert encoder.ids_of_rows(np.arange(6)).tolist() == expected
    assert encoder.token_rows([]).tolist() == [] and encoder.token_rows([[]]).tolist() == []


def test_token_rows_start_the_cache_afresh_when_it_is_full(monkeypatch):
    """Past CACHE_LIMIT words, the cache is cleared (a new generation) and holds this call's
    words, renumbered; rows handed out before belong to the old generation."""
    v = vocabs()
    monkeypatch.setattr(Encoder, "CACHE_LIMIT", 4)
    encoder = Encoder(v)
    assert encoder.token_rows([["The", "cat", "sat"]]).tolist() == [0, 1, 2]
    assert encoder.token_rows([["cat", "Dogs", "The"]]).tolist() == [1, 3, 0] and encoder.generation == 0
    rows = encoder.token_rows([["bark", "cat", "bark"]])  # a fifth word: afresh
    assert encoder.generation == 1 and rows.tolist() == [0, 1, 0] and encoder.size == 2
    assert encoder.ids_of_rows(rows).tolist() == [[v[g].index(group_string(g, w)) for w in ("bark", "cat", "bark")] for g in v]


def test_encoder_ids_from_the_lexicon_equal_those_from_the_strings():
    """Vocabulary words take their group ids from the lexicon, other words from their
    strings; both must give the groups' per-word strings, specials and case included."""
    v = vocabs()
    words = ["The", "the", "cat", "Cat", "CAT", "1984", "2001", "<unk>", "<pad>", "Zebra", "naïve", "sat", "DOGS"]
    encoder = Encoder(v)
    _, type_ids = encoder.encode([words])
    expected = [[v[g].index(group_string(g, w)) for w in words] for g in v]
    assert type_ids[:, 1:].tolist() == expected
    assert encoder.lexicon.shape == (len(v["word"]), len(v))
    assert encoder.lexicon[:, 0].tolist() == list(range(len(v["word"])))
    # a lexicon row is what the encoder uses for its word: a wrong row shows in the ids
    wrong = encoder.lexicon.copy()
    wrong[v["word"].index("cat"), 1] = UNK_ID
    assert Encoder(v, wrong).encode([["cat"]])[1][1, 1] == UNK_ID


def test_a_word_unknown_as_written_is_known_in_the_treebanks_spelling_and_back():
    """Treebank writes ( as -LRB- and 1/2 as 1\\/2, tokenizers and brown do not: a word
    unknown in one spelling takes the ids of the other when that one is a training word,
    every group's ids its (as the model saw them); a word unknown in both takes the features of
    the spelling the vocabularies know best (3/4 those of 3\\/4, as 1\\/2 taught them)."""
    words = ["-LRB-", "-RRB-", "1\\/2", "and/or", "{", "*", "cat"]
    v = {g: Vocab(sorted({group_string(g, w) for w in words})) for g in ("word", "lower", "suf2", "shape")}
    encoder = Encoder(v)
    asked = ["(", ")", "1/2", "and\\/or", "-LCB-", "\\*", "cat", "[", "3/4", "-LRB-"]
    known_as = ["-LRB-", "-RRB-", "1\\/2", "and/or", "{", "*", "cat", None, None, "-LRB-"]
    _, type_ids = encoder.encode([asked])
    for column, (word, alias) in enumerate(zip(asked, known_as), 1):
        source = alias or {"3/4": "3\\/4", "[": "-LSB-"}.get(word, word)  # unknown either way: treebank's spelling's features
        assert type_ids[:, column].tolist() == [v[g].stoi.get(group_string(g, source), UNK_ID) for g in v], word
        assert encoder.known_id(word) == (v["word"].index(alias) if alias else None)
    assert type_ids[3, 9] == v["shape"].index(group_string("shape", "1\\/2")) != v["shape"].stoi.get(group_string("shape", "3/4"))


def test_typographic_punctuation_is_known_as_the_ascii_forms_a_corpus_wrote():
    """The tokenizer keeps “ ’s … as written; a treebank model learned `` 's ..., a Universal
    Dependencies one " for either quote: each is read as the first of its spellings the model
    knows, and back."""
    treebank = ["``", "''", "'s", "n't", "...", "--", "'", "`", "cat"]
    v = {g: Vocab(sorted({group_string(g, w) for w in treebank})) for g in ("word", "suf2")}
    asked = ["“", "”", "’s", "n’t", "…", "—", "–", "’", "‘", "«", "»", "„", "‘‘", "’’", "cat’s", '"']
    known_as = ["``", "''", "'s", "n't", "...", "--", "--", "'", "`", "``", "''", "``", "``", "''", None, "''"]
    assert [Encoder(v).known_id(w) for w in asked] == [v["word"].index(a) if a else None for a in known_as]
    ud = ['"', "’s", "—", "…", "'"]
    v = {g: Vocab(sorted({group_string(g, w) for w in ud})) for g in ("word", "suf2")}
    asked = ["``", "''", "“", "'s", "--", "...", "‘", "‘‘", "’’"]
    known_as = ['"', '"', '"', "’s", "—", "…", None, '"', '"']  # ‘ opens a quote, where ' is mostly a possessive
    encoder = Encoder(v)
    assert [encoder.known_id(w) for w in asked] == [v["word"].index(a) if a else None for a in known_as]
    _, type_ids = encoder.encode([asked])
    assert type_ids[:, 1].tolist() == [v[g].index(group_string(g, '"')) for g in v]  # every group's ids the known word's


def test_an_unknown_word_takes_the_features_of_the_spelling_the_vocabularies_know_best():
    """’90s is unknown to a treebank model in either spelling, but its prefixes are known as
    '90s writes them; a word whose own features are known keeps them."""
    groups = ("word", "pre1", "pre2", "suf2")
    v = {g: Vocab(sorted({group_string(g, w) for w in ["'80s", "'s", "cat"]})) for g in groups}
    encoder = Encoder(v)
    _, type_ids = encoder.encode([["’90s", "'90s", "c’t"]])
    assert type_ids[:, 1].tolist() == type_ids[:, 2].tolist() == [UNK_ID] + [v[g].index(group_string(g, "'90s")) for g in groups[1:]]
    own = [v[g].stoi.get(group_string(g, "c’t"), UNK_ID) for g in groups]  # as many known as c't's: kept
    assert type_ids[:, 3].tolist() == own and own[1] == v["pre1"].index("c")


def test_straight_double_quotes_are_placed_for_a_vocabulary_without_them():
    """A treebank vocabulary has `` and '' but no ": in a sentence the first, third, ... "
    open and the others close, unless the sentence has an odd number of them and ends with
    one, or its first is followed by punctuation and a lower-case word: its quotes then close
    first (a quote opened before). A vocabulary with " keeps the sentences as they are."""
    sentences = [[], ["He", "said", '"', "no", '"', "."], ["no"], ('"', "a", '"', "b", '"'), ['"', "a"], ["b", '"', "c"],
                 ["I", "saw", ".", '"'], ["out", '"', ",", "she", "said", "."], ['"', ",", "and", '"', "Too", '"', "."],
                 ["out", '"', ",", "Mr.", "said"], ['"'], ["a", '"', "b", '"', "."]]
    placed = [[], ["He", "said", "``", "no", "''", "."], ["no"], ["''", "a", "``", "b", "''"], ["``", "a"], ["b", "``", "c"],
              ["I", "saw", ".", "''"], ["out", "''", ",", "she", "said", "."], ["''", ",", "and", "``", "Too", "''", "."],
              ["out", "``", ",", "Mr.", "said"], ["``"], ["a", "``", "b", "''", "."]]
    by_parity = {3: ["``", "a", "''", "b", "``"], 6: ["I", "saw", ".", "``"], 7: ["out", "``", ",", "she", "said", "."],
                 8: ["``", ",", "and", "''", "Too", "``", "."]}
    offsets = np.cumsum([0] + [len(s) for s in sentences])
    for known, expected in ((["``", "''", "no"], placed), (['"', "``", "''"], sentences)):
        encoder = Encoder({g: Vocab(sorted({group_string(g, w) for w in known})) for g in ("word", "suf2")})
        rows = encoder.place_quotes(encoder.token_rows(sentences), offsets, sentences)
        np.testing.assert_array_equal(encoder.ids_of_rows(rows), encoder.ids_of_rows(encoder.token_rows(expected)))
    encoder = Encoder({g: Vocab(sorted({group_string(g, w) for w in ["``", "''", "no"]})) for g in ("word", "suf2")})
    rows = encoder.place_quotes(encoder.token_rows(sentences), offsets)  # without the tokens: by parity alone
    parity = [by_parity.get(i, s) for i, s in enumerate(placed)]
    np.testing.assert_array_equal(encoder.ids_of_rows(rows), encoder.ids_of_rows(encoder.token_rows(parity)))
    alone = encoder.place_quotes(encoder.token_rows([["He", '"', "no"]]), np.array([0, 3]))  # one quote in the call
    np.testing.assert_array_equal(encoder.ids_of_rows(alone), encoder.ids_of_rows(encoder.token_rows([["He", "``", "no"]])))


def test_batch_padding_mask_and_tags_round_trip():
    v = vocabs()
    tag_vocab = Vocab(sorted({t for s in TAGS for t in s}))
    corpus = encode_corpus(Encoder(v), SENTS, TAGS, tag_vocab)
    batch = make_batch(corpus, np.array([1, 2]))
    assert batch.mask.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]]
    words = batch.inputs["word"][batch.tokens]  # (N, T) word ids
    assert v["word"].decode(words[0, :2]) == ["Dogs", "bark"]
    assert v["word"].decode(words[1]) == SENTS[2]
    assert np.all(words[0, 2:] == PAD_ID) and np.all(batch.tags[0, 2:] == PAD_ID)
    assert tag_vocab.decode(batch.tags[1]) == TAGS[2]


def test_word_dropout_hides_only_the_groups_it_is_given():
    v = vocabs()
    corpus = encode_corpus(Encoder(v), SENTS * 50, TAGS * 50, Vocab(["DT"]))
    half = np.full(corpus.n_tokens, 0.5, dtype=np.float32)
    corpus.drop_prob = {"word": half}
    batch = make_batch(corpus, np.arange(len(corpus)), np.random.default_rng(0))
    plain = make_batch(corpus, np.arange(len(corpus)))
    real = batch.mask == 1
    word, plain_word = batch.inputs["word"][batch.tokens], plain.inputs["word"][plain.tokens]
    hidden = (word == UNK_ID) & real
    assert 0.4 < hidden.sum() / real.sum() < 0.6
    for group in ("lower", "suf2", "shape"):
        np.testing.assert_array_equal(batch.inputs[group][batch.tokens], plain.inputs[group][plain.tokens])
    np.testing.assert_array_equal(word[~hidden], plain_word[~hidden])


def test_rare_words_are_hidden_more_often():
    v = vocabs()
    corpus = encode_corpus(Encoder(v), SENTS + [["the"]], TAGS + [["DT"]], Vocab(["DT"]))
    p = rare_word_dropout(corpus, 0.25)
    assert p["word"][0] == pytest.approx(0.25 / 2.25)  # "The" occurs twice
    assert p["word"][3] == pytest.approx(0.25 / 1.25)  # "Dogs" once
    assert p["lower"][0] == pytest.approx(0.25 / 3.25)  # "the" three times, in either case


def test_independent_dropout_can_hide_the_word_but_keep_its_lower_case():
    v = vocabs()
    corpus = encode_corpus(Encoder(v), SENTS * 50, TAGS * 50, Vocab(["DT"]))
    corpus.drop_prob = {"word": np.full(corpus.n_tokens, 0.5, np.float32), "lower": np.full(corpus.n_tokens, 0.5, np.float32)}
    batch = make_batch(corpus, np.arange(len(corpus)), np.random.default_rng(0))
    real = batch.mask == 1
    word = batch.inputs["word"][batch.tokens][real] == UNK_ID
    lower = batch.inputs["lower"][batch.tokens][real] == UNK_ID
    for both in (True, False):
        for only in (True, False):
            assert 0.15 < np.mean((word == both) & (lower == only)) < 0.35


def test_length_batches_cover_every_sentence_once_and_group_lengths():
    lengths = np.random.default_rng(0).integers(1, 40, size=101)
    batches = length_batches(lengths, 10, np.random.default_rng(1))
    seen = np.concatenate(batches)
    assert sorted(seen) == list(range(101))
    # batches are runs of the length-sorted order: no two batches' length ranges overlap
    ranges = sorted((lengths[b].min(), lengths[b].max()) for b in batches)
    assert all(high <= next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:]))
    again = length_batches(lengths, 10, np.random.default_rng(1))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    # the batches come in a shuffled order, another for another seed, not shortest first
    orders = [[int(lengths[b].max()) for b in length_batches(lengths, 10, np.random.default_rng(seed))] for seed in (1, 2)]
    assert orders[0] != sorted(orders[0]) and orders[0] != orders[1]
    fixed = [int(lengths[b].max()) for b in length_batches(lengths, 10)]
    assert fixed == sorted(fixed)  # without an rng


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=20))
def test_group_columns_equal_the_per_word_definitions(words):
    normalised = [normalise(w) for w in words]
    assert normalise_all(words) == normalised
    assert shapes(words) == [shape_by_characters(w) for w in words]
    for w in words:
        assert shape(w) == shape_by_characters(w)
    for group in ("word", "lower", "shape", "suf1", "suf3", "pre2"):
        assert list(group_column(group, words, normalised)) == [group_string(group, w) for w in words]


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50, 2**63, 10**20])  # past int64: one batch of all
def test_largest_padded_batch_is_that_of_every_shuffle(batch_size):
    from postagger.train import largest_padded_batch

    lengths = np.random.default_rng(3).integers(1, 40, size=23)
    expected = largest_padded_batch(lengths, batch_size)
    for seed in range(5):
        batches = length_batches(lengths, batch_size, np.random.default_rng(seed))
        assert max(len(b) * lengths[b].max() for b in batches) == expected


def test_token_bounded_batches_are_never_empty():
    """A first sentence longer than the limit is a run of its own, not one after an empty run."""
    from postagger.encoding import _token_bounded

    lengths = np.array([9, 2, 3, 8, 1, 1])
    parts = _token_bounded(np.arange(6), lengths, limit=5)
    assert [p.tolist() for p in parts] == [[0], [1, 2], [3], [4, 5]]
    assert [p.tolist() for p in _token_bounded(np.arange(3), np.array([1, 1, 1]), limit=5)] == [[0, 1, 2]]


def test_longest_first_batches_hold_every_sentence_with_tokens_once_longest_first():
    lengths = np.random.default_rng(3).integers(0, 12, size=200)
    for max_tokens in (None, 60):
        batches = longest_first_batches(lengths, 32, max_tokens)
        assert sorted(np.concatenate(batches).tolist()) == np.flatnonzero(lengths).tolist()
        for index in batches:
            assert 0 < len(index) <= 32 and (np.diff(lengths[index]) <= 0).all()
            assert max_tokens is None or lengths[index].sum() <= max_tokens
    assert len(longest_first_batches(lengths, 32)) == -(-np.count_nonzero(lengths) // 32)
    assert len(longest_first_batches(lengths, 32, 60)) > len(longest_first_batches(lengths, 32))
    assert [b.tolist() for b in longest_first_batches(np.array([2, 0, 9, 3]), 32, 5)] == [[2], [3, 0]]


def test_token_positions_of_sentences_in_the_order_given():
    offsets = np.array([0, 3, 3, 7, 9])
    assert token_positions(offsets, np.array([2, 0, 1, 3])).tolist() == [3, 4, 5, 6, 0, 1, 2, 7, 8]
