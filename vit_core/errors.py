"""Errors that mean "the input is wrong", which the command-line tools print as one
line, not a traceback."""


class VitCoreError(Exception):
    """Base class of errors caused by the user's input rather than by a bug."""


class DataError(VitCoreError):
    """A data set that is missing, truncated or corrupt."""


class CheckpointError(VitCoreError):
    """A checkpoint that is missing, truncated, corrupt, or of another architecture."""


class NonFiniteLoss(VitCoreError):
    """The training loss became NaN or infinite (a learning rate too high, or bad
    data)."""
