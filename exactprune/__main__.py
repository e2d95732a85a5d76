"""The `exactprune` command (and `python -m exactprune`).

The command modules import onnx, onnxruntime and SCIP, which takes a moment; Ctrl-C during that
start-up ends like every other interrupt: one line on stderr and exit 130, no traceback.
"""

import sys

from .errors import EXIT_INTERRUPTED


def main() -> None:
    try:
        from .cli import main as command
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    command(prog_name="exactprune")


if __name__ == "__main__":
    main()
