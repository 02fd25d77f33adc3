"""postagger.tokenize keeps NLTK's TreebankWordTokenizer rules without importing NLTK, splits
curly quotes, ellipses and em dashes off as their ASCII forms are, and tokenize_lines gives the
same tokens for many lines at once."""

import itertools
import subprocess
import sys
import zipfile

import pytest
from nltk.tokenize import TreebankWordTokenizer

from postagger import corpora
from postagger.tokenize import tokenize, tokenize_lines
from tests.conftest import require_corpus

SENTENCES = [
    "The cat sat on the mat.",
    "They'll save and invest more, won't they?",
    '"Hello," she said -- "I can\'t cannot gimme gonna wanna do that!"',
    "Good muffins cost $3.88 (roughly 3,36 euros) in New York.  Please buy me two of them...",
    "'Tis the season; it's 10:30 & 50% off @ Joe's [sic] {ok} <b>.",
    "He said: ``quoted'' and 'single' quotes' end.",
    "D'ye lemme gotta more'n 'twas WON'T I'M YOU'RE",
    "Mr. Smith paid $1,000,000 for the U.S. firm's stake.\"",
    "",
    "   spaces   everywhere   ",
    "He left.\x1c",  # information separators: not spaces to NLTK's final-period rule (regex's \s)
    "I wanna\x1cgo.\u2003\xa0",  # but spaces to its contractions (re's \s)
]


def merged(tokens: list[str]) -> list[str]:
    """The tokens with each period but the last joined to the token before it: NLTK's Treebank
    rules split only a sentence's last period, after its sentence splitter has split the text."""
    out: list[str] = []
    for i, token in enumerate(tokens):
        if token == "." and out and i < len(tokens) - 1:
            out[-1] += token
        else:
            out.append(token)
    return out


@pytest.mark.parametrize("text", SENTENCES)
def test_tokenize_matches_nltk(text):
    assert merged(tokenize(text)) == merged(TreebankWordTokenizer().tokenize(text))


# Text of several sentences: a period before whitespace and a capital is split off, as NLTK's
# word_tokenize does after splitting sentences, unless it ends an abbreviation or an initial.
SENTENCE_ENDS = [
    ("The cat sat. Then it left.", ["The", "cat", "sat", ".", "Then", "it", "left", "."]),
    ("Good muffins cost $3.88 in New York.  Please buy two.",
     ["Good", "muffins", "cost", "$", "3.88", "in", "New", "York", ".", "Please", "buy", "two", "."]),
    ("Mr. J. R. Smith of Acme Corp. in the U.S. Said no at 5 p.m. Friday.",
     ["Mr.", "J.", "R.", "Smith", "of", "Acme", "Corp.", "in", "the", "U.S.", "Said", "no", "at", "5", "p.m.", "Friday", "."]),
    ('He said "no." Then he left in 1990. Élan won.',
     ["He", "said", "``", "no", ".", "''", "Then", "he", "left", "in", "1990", ".", "Élan", "won", "."]),
    ("See item 3. It paid $3.50. (Really.) And (so). Then etc. It ended... Then x.y. Z",
     ["See", "item", "3", ".", "It", "paid", "$", "3.50", ".", "(", "Really", ".", ")", "And", "(", "so", ")", ".",
      "Then", "etc.", "It", "ended", "...", "Then", "x.y.", "Z"]),
    ("lower. case. 42. not split before them: a. b.", ["lower.", "case.", "42.", "not", "split", "before", "them", ":",
                                                       "a.", "b", "."]),
]


@pytest.mark.parametrize("text, tokens", SENTENCE_ENDS)
def test_a_period_that_ends_a_sentence_inside_the_text_is_split_off(text, tokens):
    assert tokenize(text) == tokens
    assert tokenize_lines([text, text]) == [tokens, tokens]


def test_tagging_a_raw_sentence_does_not_import_nltk(treebank_model):
    folder, _ = treebank_model
    code = (
        "import sys\n"
        "from postagger.cli import run\n"
        f"sys.argv = ['postagger', 'tag', '--model', {str(folder)!r}, \"They'll pay $3 (or so).\"]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print('nltk' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert [token.rsplit("/", 1)[0] for token in out[0].split()] == ["They", "'ll", "pay", "$", "3", "(", "or", "so", ")", "."]
    assert out[-1] == "False"


# Lines that test the edges of the rules rewritten for tokenize_lines: quotes and periods at the
# start and end of a line, colons and commas before a line break, contractions in any case and
# next to other words, and whitespace that str.split and the regex engine see differently.
EDGES = [
    '"Quote at start', "ends with colon:", "ends with comma,", "a:b,c 1,000 2:30", "' start", "x' ",
    "end.", ".", "..", "end. ", "end.\t", "end.\r", "end.)'\"", "", "   ", "x\ty", "''", ' ""x',
    " '''", '("', "<''", "CANNOT Cannot xcannot cannotx", "d'ye D'YE Gimme GONNA gotta Lemme more'n WANNA wannax",
    "'tis 'Twas", "it's He'S I'M they'd We'll THEY'RE you've N'T don't'll", "x''s ", "U.S. a.b.",
    "\u2028x.", "x.\u2028", "\x0cpage.", "x'\x85", "G\u0131mme \u212aannot",
    "“x", "x”", "end.”", "end.’", "x’ ", "’ start", "it’s", "CAN’T", "x’’s ", "…", "x—y", "«x»", "‘",
]

# Typographic punctuation, which NLTK's Treebank rules leave on the words: split off where the
# Treebank rules split its ASCII forms.
CURLY = [
    ("“The cat sat,” she said.", ["“", "The", "cat", "sat", ",", "”", "she", "said", "."]),
    ("It’s Bob’s car, isn’t it? They’ll see; I’M sure.",
     ["It", "’s", "Bob", "’s", "car", ",", "is", "n’t", "it", "?", "They", "’ll", "see", ";", "I", "’M", "sure", "."]),
    ("He said “no.”", ["He", "said", "“", "no", ".", "”"]),
    ("‘Quoted’ words… and more.", ["‘", "Quoted", "’", "words", "…", "and", "more", "."]),
    ("the boys’ toys, rock’n’roll and the ’90s", ["the", "boys", "’", "toys", ",", "rock’n’roll", "and", "the", "’90s"]),
    ("«Oui», dit-il — non.", ["«", "Oui", "»", ",", "dit-il", "—", "non", "."]),
    ("Wait—what?", ["Wait", "—", "what", "?"]),
    ("¿Qué hora es? ¡Hola!", ["¿", "Qué", "hora", "es", "?", "¡", "Hola", "!"]),  # as cess_esp writes them
    ("‘‘Hi,’’ he said ‘‘no.’’", ["‘‘", "Hi", ",", "’’", "he", "said", "‘‘", "no", ".", "’’"]),  # doubled single quotes
    ("’Tis d’ye more’n ’twas", ["’T", "is", "d", "’ye", "more", "’n", "’t", "was"]),
]


@pytest.mark.parametrize("text, tokens", CURLY)
def test_typographic_quotes_dots_and_dashes_are_split_off(text, tokens):
    assert tokenize(text) == tokens
    assert TreebankWordTokenizer().tokenize(text) != tokens  # which NLTK's rules do not do


def treebank_raw_lines() -> list[str]:
    """The untokenized text of NLTK's treebank sample (treebank/raw), one line at a time."""
    require_corpus("treebank")
    with zipfile.ZipFile(corpora._find("corpora/treebank")) as archive:
        return [line for name in sorted(archive.namelist()) if "/raw/wsj_" in name
                for line in archive.read(name).decode("latin-1").split("\n")]


def test_tokenize_matches_nltk_on_random_text():
    """NLTK's tokens for text without typographic punctuation; tokenize_lines tokenize's for any."""
    import random

    rng = random.Random(0)
    typographic = "“”‘’«»„…—¿¡"
    pieces = list("ab .,'\"-?!:;()$%]}>\t\x0b\x1c\x1f\x85\xa0\u2003\u0301" + typographic) + [
        "wanna", "gonna", "cannot", "can't", "'s", "'ll", "n't", "'t", "is", "was", "lemme", "d'ye", "...", "--", "``", "''",
        "can’t", "’s", "’ll", "n’t", "’t", "A", "Mr", "U.S", "3", "É", "d’ye", "more’n", "’tis", "’Twas", "’d", "’M", "’re", "N’T"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(8000)]
    plain = [text for text in texts if not any(c in typographic for c in text)]
    assert len(plain) > 1500
    nltk_tokenizer = TreebankWordTokenizer()
    assert [merged(tokenize(text)) for text in plain] == [merged(nltk_tokenizer.tokenize(text)) for text in plain]
    assert tokenize_lines(texts) == [tokenize(text) for text in texts]


def test_tokenize_matches_nltk_on_real_text():
    lines = treebank_raw_lines()
    assert len(lines) > 5000
    nltk_tokenizer = TreebankWordTokenizer()
    ours = [tokenize(line) for line in lines]
    assert [merged(tokens) for tokens in ours] == [merged(nltk_tokenizer.tokenize(line)) for line in lines]
    assert sum(map(len, ours)) - sum(len(nltk_tokenizer.tokenize(line)) for line in lines) > 50  # periods split off


def test_tokenize_lines_gives_the_tokens_of_tokenize():
    lines = treebank_raw_lines() + SENTENCES + EDGES + [text for text, _ in CURLY + SENTENCE_ENDS]
    assert tokenize_lines(lines) == [tokenize(line) for line in lines]
    for pair in itertools.product(EDGES + SENTENCES, repeat=2):  # every edge after every other
        assert tokenize_lines(list(pair)) == [tokenize(line) for line in pair], pair
    assert tokenize_lines([]) == []
    assert tokenize_lines(["two\nlines: one sentence.", "b"]) == [tokenize("two\nlines: one sentence."), ["b"]]


def test_curly_quotes_tag_as_the_straight_ones_a_treebank_model_learned(treebank_model):
    """“ ’s … reach a treebank model as the `` 's ... it learned: the tags of the straight text,
    the tokens as written."""
    from typer.testing import CliRunner

    from postagger.cli import app

    folder, _ = treebank_model
    straight = "\"It's done...\" she said -- isn't it?"
    for curly in ("“It’s done…” she said — isn’t it?", "‘‘It’s done…’’ she said — isn’t it?"):
        out = [CliRunner().invoke(app, ["tag", "--model", str(folder), text]) for text in (curly, straight)]
        assert [r.exit_code for r in out] == [0, 0], out[0].output
        pairs = [[token.rsplit("/", 1) for token in r.output.split()] for r in out]
        assert [word for word, _ in pairs[0]] == tokenize(curly)
        assert [tag for _, tag in pairs[0]] == [tag for _, tag in pairs[1]]
