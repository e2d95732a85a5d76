"""Atomic file writes: a temporary file in the target's directory, fsync, then a rename."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import OutputFileError


def write_atomic(path: str | Path, data: bytes | str, protect: str | Path | None = None) -> Path:
    """Write `data` to `path` so that readers see the old file or the whole new one, never part.

    protect: a file (the input model) that must not be replaced; OutputFileError if path is it.
    """
    path = Path(path)
    if protect and path.exists() and path.resolve() == Path(protect).resolve():
        raise OutputFileError(f"{path} is the model's input file; choose another output "
                              "(or pass overwrite_input)")
    if not path.parent.is_dir():
        raise OutputFileError(f"cannot write {path}: directory {path.parent} does not exist")
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputFileError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _mode(path))
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # also Ctrl-C: never leave a temporary file behind
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputFileError(f"cannot write {path}: {exc.strerror}") from None
        raise
    return path


def _mode(path: Path) -> int:
    """The replaced file's permissions, or what a plain open() would give (0o666 less umask)."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_distinct(*paths: str | Path | None) -> None:
    """Refuse two of a command's files (its input, its outputs) that are one file on disk."""
    seen: dict[Path, str] = {}
    for path in paths:
        if path is None:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise OutputFileError(f"{path} and {seen[key]} are the same file: the input and "
                                  "every output need a path of their own")
        seen[key] = str(path)
