"""Errors a user can act on. The CLI prints their message and exits non-zero, with no traceback."""


class SumprobeError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class DataError(SumprobeError):
    """Bad or missing input data; the message names the file, line and field."""


class ModelError(SumprobeError):
    """A model or tokenizer that cannot be loaded or cannot do what the command needs."""


class TrainingError(SumprobeError):
    """A run that had to stop (e.g. a NaN reward); the message names the last good checkpoint."""


class OptionError(SumprobeError):
    """A setting that cannot work with the rest (a `--groups` the data set has no use for);
    the CLI shows it as a bad value of that option."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


class Interrupted(SumprobeError):
    """Ctrl-C: the message says what was kept and how to go on."""
