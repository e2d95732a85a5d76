"""The `exactprune` command (and `python -m exactprune`).

The command modules import onnx, onnxruntime and SCIP, which takes a moment. A Ctrl-C during
that start-up is held until the imports are done (onnxruntime would otherwise turn it into an
ImportError) and then ends like every other interrupt: one line on stderr and exit 130, no
traceback. The hold is set up with the builtin _signal module alone, before anything else is
imported, so the window in which a Ctrl-C is Python's own is the interpreter's start-up.
"""

import _signal  # the C module behind `signal`, which imports enum first (about 5 ms)
import sys


def main() -> None:
    caught: list[int] = []
    previous = _signal.signal(_signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        from .cli import main as command
    except Exception:  # what an extension made of the interrupt during its import
        if not caught:
            raise
    finally:
        _signal.signal(_signal.SIGINT, previous)
    if caught:
        from .errors import EXIT_INTERRUPTED

        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    command(prog_name="exactprune")


if __name__ == "__main__":
    main()
