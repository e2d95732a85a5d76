"""The exception hierarchy. The CLI maps these to exit codes in one place (exactprune.cli).

Every error inherits from a standard exception as well, so library users can catch ValueError,
FileNotFoundError or RuntimeError as usual. Messages are one line and say what to do.
"""


EXIT_INTERRUPTED = 130
EXIT_UNDECIDED = 4  # a formal check ended undecided (time limit, solver trouble)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): the reason
    a one-line error quotes from a library's exception."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class ExactpruneError(Exception):
    """Base class of every error exactprune raises on purpose."""

    exit_code = 2


class ModelFileError(ExactpruneError, ValueError):
    """The file is missing, unreadable, truncated or not an ONNX model."""


class MissingFileError(ExactpruneError, FileNotFoundError):
    """A file named on the command line does not exist."""


class UnsupportedModelError(ExactpruneError, ValueError):
    """The graph uses ops, shapes or a topology exactprune cannot represent exactly."""


class InvalidModelError(ExactpruneError, ValueError):
    """The model is readable but its contents are unusable (NaN weights, shape mismatches)."""


class DomainError(ExactpruneError, ValueError):
    """An input domain (box, bounds file, VNN-LIB) is malformed or does not fit the model."""


class OutputFileError(ExactpruneError, OSError):
    """The output cannot be written where asked (would overwrite the input, exists, not writable)."""


class InstancesFileError(ExactpruneError, ValueError):
    """A batch's instances CSV is unreadable or malformed; the message names the file and line."""


class MissingDependencyError(ExactpruneError, ImportError):
    """An optional extra (matplotlib for --plot, Dask for --cluster) is not installed."""


class ClusterError(ExactpruneError, ConnectionError):
    """The Dask cluster of --cluster cannot be started or reached."""


class VerificationError(ExactpruneError, AssertionError):
    """The compressed model deviates from the original beyond the tolerance."""

    exit_code = 1


class RowsFailedError(ExactpruneError, RuntimeError):
    """Some rows of a batch ended in an error (the others were done); the message counts them."""

    exit_code = 1


class UndecidedError(ExactpruneError, RuntimeError):
    """A formal check reached its time limit (or SCIP failed) without a proof or a
    counterexample; the message gives the best bounds found."""

    exit_code = EXIT_UNDECIDED


class Interrupted(ExactpruneError):
    """Ctrl-C stopped the work; the message says what, if anything, was written."""

    exit_code = EXIT_INTERRUPTED
