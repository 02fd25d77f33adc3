"""Errors the CLI turns into one line on stderr and an exit code, never a traceback."""


class PostaggerError(Exception):
    """Base class. `exit_code` 1 means bad data, 2 means bad usage."""

    exit_code = 1


class DataError(PostaggerError):
    """A file, corpus or model that cannot be read. Say which file and line in the message."""

    exit_code = 1


class CorpusNotFoundError(DataError):
    """An NLTK corpus that is neither installed nor downloadable."""


class ModelError(DataError):
    """A model folder that is missing, incomplete, corrupt or from a newer format."""


class TrainingDiverged(PostaggerError):
    """The loss, or a weight, became NaN or infinite."""


class LaneWorkerError(PostaggerError):
    """The second training process failed or stopped."""


class MissingExtra(PostaggerError):
    """An optional dependency that a command needs is not installed."""


class UsageError(PostaggerError):
    """Options that make no sense together, an unknown corpus or format name."""

    exit_code = 2


def reason(err: OSError) -> str:
    """What went wrong, for a one-line message: "no space left on device"."""
    return (err.strerror or str(err)).lower()


def first_line(err: BaseException) -> str:
    """An exception's message cut to its first line (numpy's and zipfile's run on), or its name."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class NotFittedError(ValueError, AttributeError):
    """A tagger used before fit or load, as scikit-learn's: a ValueError, and an AttributeError
    so that hasattr(tagger, "classes_") is False."""
