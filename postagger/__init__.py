"""postagger: a part-of-speech tagger built on a hand-written numpy RNN trained with BPTT."""

__version__ = "0.1.0"
