"""postagger: a part-of-speech tagger built on a hand-written numpy RNN trained with BPTT."""

__version__ = "0.1.0"


def main() -> None:
    """The postagger command. Ctrl-C while its modules still load (a fifth of a second) exits
    130 without a traceback, as it does later."""
    try:
        from .cli import run
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    run()
