"""`exactprune --help` and `--version` start without the heavy libraries, and the command list
they show says what each command's own help says."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from exactprune.cli import main
from exactprune.cli.app import COMMANDS


def test_help_and_version_import_no_heavy_library():
    code = ("import sys\nfrom exactprune.cli import main\n"
            "for args in (['--version'], ['--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'pyscipopt', 'highspy', 'numpy')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_command_list_matches_each_commands_help():
    ctx = click.Context(main)
    for name, (_, summary) in COMMANDS.items():
        command = main.get_command(ctx, name)
        first = command.help.split("\n\n")[0]
        assert " ".join(first.split()) == summary, name
    assert set(main.commands) == set(COMMANDS)
    shown = CliRunner().invoke(main, ["--help"]).output
    assert all(name in shown for name in COMMANDS)
