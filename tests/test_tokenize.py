"""postagger.tokenize keeps NLTK's TreebankWordTokenizer rules without importing NLTK."""

import subprocess
import sys

import pytest
from nltk.tokenize import TreebankWordTokenizer

from postagger.tokenize import tokenize

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
]


@pytest.mark.parametrize("text", SENTENCES)
def test_tokenize_matches_nltk(text):
    assert tokenize(text) == TreebankWordTokenizer().tokenize(text)


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
