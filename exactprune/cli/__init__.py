"""Command-line interface: `exactprune COMMAND ...`. Each command lives in its own module."""

from .app import main

# command modules register themselves on `main` when imported
from . import inspect_cmd, verify_cmd, regions_cmd, compress_cmd, stability_cmd  # noqa: E402,F401

__all__ = ["main"]
