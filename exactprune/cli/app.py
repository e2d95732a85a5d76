"""The click group, shared options, and the one place where errors become exit codes.

Exit codes: 0 success; 1 a check failed (verification deviation above tolerance; batch: a row
failed); 2 bad input
(file, model, domain, usage); 3 internal error (a bug: please report it); 4 a formal check is
undecided (errors.EXIT_UNDECIDED); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from importlib import import_module

import click
from rich.console import Console
from rich.text import Text

from .._version import __version__
from ..errors import EXIT_INTERRUPTED, ExactpruneError, Interrupted
from ..interrupts import deferred

EXIT_INTERNAL = 3  # the others come from ExactpruneError.exit_code

PIPED_WIDTH = 120  # tables written to a pipe or a CI log are not folded to 80 columns


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    piped = not probe.is_terminal and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=PIPED_WIDTH) if piped else probe


console = _console()
err_console = _console(stderr=True)


def say(label: str, style: str, message: str) -> None:
    """Print `label: message` on stderr; the message is plain text (brackets in file names and
    in `pip install 'exactprune[plot]'` are not markup)."""
    err_console.print(Text.assemble((f"{label}:", style), " ", message), highlight=False,
                      soft_wrap=True)


def note(message: str) -> None:
    say("note", "yellow", message)


def fail(message: str, code: int) -> None:
    """Print a one-line error on stderr and exit with `code`."""
    say("error", "bold red", message)
    sys.exit(code)


@contextmanager
def reporting(written: list[str]):
    """Around what a command prints after its files are in place: a Ctrl-C there still ends
    with exit 130, and the message names the files already written."""
    try:
        yield
    except KeyboardInterrupt:
        names = ", ".join(name for name in written if name != "-")
        raise Interrupted(f"interrupted; already written: {names}" if names
                          else "interrupted") from None


class PipeSafeStdout:
    """sys.stdout that drops output once its reader has gone (`exactprune ... | head`), so the
    command still finishes its work (writing files) and exits with its own code."""

    def __init__(self, stream):
        self._stream = stream
        self._gone = False

    def write(self, text: str) -> int:
        if not self._gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self._gone = True
        try:  # later flushes (also at interpreter exit) go nowhere instead of failing
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


class ErrorMappingGroup(click.Group):
    """A click group that turns exactprune's exceptions into one-line messages and exit codes.

    Usage errors (an unknown option, a value that does not parse) are one line too, with the
    command's --help to read, exit 2. Ctrl-C anywhere (parsing the command line, loading,
    analysing, writing) ends with "error: interrupted" and exit 130, never click's "Aborted!"
    (exit 1) or a traceback.
    """

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except click.UsageError as exc:
            _usage(exc)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ExactpruneError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        except click.UsageError as exc:
            _usage(exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # a bug: one line unless EXACTPRUNE_DEBUG is set
            if os.environ.get("EXACTPRUNE_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {exc}); set EXACTPRUNE_DEBUG=1 "
                 "for a traceback and please report it", EXIT_INTERNAL)


# name: (module, the summary `exactprune --help` shows: the first line of the command's help)
COMMANDS = {
    "inspect": ("inspect_cmd", "Show the layers, sizes, input/output and stored domain of MODEL "
                               "(or, with --supported, the ONNX ops exactprune reads)."),
    "compress": ("compress_cmd", "Compress IN exactly on the input domain and write OUT."),
    "stability": ("stability_cmd", "Prove which ReLU neurons of MODEL never change phase on the "
                                   "input domain."),
    "batch": ("batch_cmd", "Run compress (or stability) on every row of INSTANCES.csv, writing "
                           "into DIR."),
    "regions": ("regions_cmd", "Count the linear (activation) regions of MODEL on its input "
                               "domain, with upper bounds."),
    "verify": ("verify_cmd", "Check that models A and B compute the same outputs on the input "
                             "domain."),
    "prune": ("prune_cmd", "Prune IN's dense-layer weights to sparsity S and write OUT (not "
                           "exact: it changes what the model computes; measure it here, then "
                           "`compress` it exactly)."),
    "report": ("report_cmd", "Compare the per-class recall of B (e.g. pruned) with A (the "
                             "original) on --data."),
}


class LazyGroup(ErrorMappingGroup):
    """A command's module (and onnx, onnxruntime, SCIP with it) is imported only when the command
    runs, so that `exactprune --help` and `--version` start at once. The import holds a Ctrl-C
    until it is done (an extension may turn an interrupt during its import into ImportError)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str):
        if name in COMMANDS and name not in self.commands:
            with deferred():
                import_module(f"{__package__}.{COMMANDS[name][0]}")  # registers itself on main
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


def _usage(exc: click.UsageError) -> None:
    """One line for a usage error: what is wrong and where the help is (exit 2). A bare command
    (no arguments at all) shows its help instead."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    path = exc.ctx.command_path if exc.ctx is not None else "exactprune"
    fail(f"{exc.format_message()} (see '{path} --help')", exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exactprune")
def main() -> None:
    """exactprune: make ReLU networks in ONNX files smaller without changing what they compute.

    Every command reads ONNX files; domains (the inputs the model will see) are given with
    --box LO HI, --bounds FILE (.json or .npy), --vnnlib FILE or --calibration FILE (data rows),
    or read from the model when exactprune stored one there. Exit codes: 0 ok, 1 check failed,
    2 bad input, 3 internal error, 4 formal check undecided, 130 interrupted.
    """
    if not isinstance(sys.stdout, PipeSafeStdout):
        sys.stdout = PipeSafeStdout(sys.stdout)
