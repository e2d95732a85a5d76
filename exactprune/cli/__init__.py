"""Command-line interface: `exactprune COMMAND ...`. Each command lives in its own module, imported
when the command runs (app.LazyGroup)."""

from .app import main

__all__ = ["main"]
