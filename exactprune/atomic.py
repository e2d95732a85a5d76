"""Output files: checked before any work starts, written whole or not at all, only as regular files.

Contract of every file exactprune writes:
- only regular files: an existing path that is a directory, device, FIFO or socket is refused
  (OutputFileError, exit 2); a symbolic link is followed and its target replaced, the link stays;
- the input model is never replaced unless the caller allows it (`protect`);
- an existing file is replaced only with `replace=True`; without it, a file that appears while
  exactprune works (a concurrent run) is not replaced either: the final step is a hard link,
  which fails when the name exists;
- data goes to `.NAME.exactprune-PID-XXXX.tmp` in the target's directory, is fsynced, then
  renamed over NAME, so readers see the old file or the whole new one. A run that was killed
  leaves such a file; the next write of NAME removes those whose process is gone.
`Outputs` stages several files first and publishes them only when all are staged, so a late
failure (a full disk, a vanished directory) writes nothing, or names what was written.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import Interrupted, OutputFileError
from .interrupts import deferred

STDOUT = "-"
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


@dataclass(frozen=True)
class Target:
    """A checked output path. `real` is the file written (symlinks resolved); `shown` is how
    messages name it; replace: an existing file may be replaced. shown == "-": standard output."""

    shown: str
    real: Path | None
    replace: bool

    @property
    def is_stdout(self) -> bool:
        return self.real is None


def _not_regular(path: Path) -> str | None:
    """'a directory', 'a FIFO', ... for an existing path that is not a regular file, else None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputFileError(f"cannot write {path}: {exc.strerror}") from None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_target(path: str | Path, *, replace: bool = True, protect: str | Path | None = None,
                 what: str = "output", allow_stdout: bool = False) -> Target:
    """Check an output path before the work starts; OutputFileError says what is wrong.

    replace: an existing regular file may be replaced (--force for models; reports always).
    protect: the input model, which must not be replaced (pass None to allow it).
    allow_stdout: "-" means standard output (for JSON reports).
    """
    shown = str(path)
    if shown == STDOUT:
        if not allow_stdout:
            raise OutputFileError(f"{what} cannot go to standard output ('-'); give a file")
        return Target(shown, None, replace)
    real = Path(os.path.realpath(path))
    kind = _not_regular(real)
    if kind is not None:
        raise OutputFileError(f"{what} {shown} is {kind}: exactprune writes only regular files")
    if protect is not None and real.exists() and real == Path(os.path.realpath(protect)):
        raise OutputFileError(f"{what} {shown} is the input model; choose another path "
                              "(or pass --overwrite-input)")
    if real.exists() and not replace:
        raise OutputFileError(f"{what} {shown} exists; pass --force to overwrite it")
    if not real.parent.is_dir():
        raise OutputFileError(f"cannot write {shown}: directory {real.parent} does not exist")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise OutputFileError(f"cannot write {shown}: directory {real.parent} is not writable")
    return Target(shown, real, replace)


def check_distinct(*paths: str | Path | None) -> None:
    """Refuse two of a command's files (its input, its outputs) that are one file on disk."""
    seen: dict[str, str] = {}
    for path in paths:
        if path is None or str(path) == STDOUT:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputFileError(f"{path} and {seen[key]} are the same file: the input and "
                                  "every output need a path of their own")
        seen[key] = str(path)


def _mode(path: Path) -> int:
    """The replaced file's permissions, or what a plain open() would give (0o666 less umask)."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(real: Path) -> list[Path]:
    """Delete the temporary files of `real` left by exactprune processes that no longer run."""
    pattern = re.compile(re.escape(f".{real.name}.exactprune-") + r"(\d+)-\w+\.tmp\Z")
    removed = []
    for entry in real.parent.glob(f".{_glob_escape(real.name)}.exactprune-*.tmp"):
        match = pattern.match(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class _Staged:
    """One output written to its temporary file, waiting to be published."""

    def __init__(self, target: Target, data: bytes):
        self.target, self.data, self.tmp = target, data, None
        if target.is_stdout:
            return
        real = target.real
        remove_stale(real)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.exactprune-{os.getpid()}-",
                                       suffix=".tmp", dir=real.parent)
        except OSError as exc:
            raise OutputFileError(f"cannot write {target.shown}: {exc.strerror}") from None
        self.tmp = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), _mode(real))
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException as exc:  # also Ctrl-C: never leave a temporary file behind
            self.discard()
            if isinstance(exc, OSError):
                raise OutputFileError(f"cannot write {target.shown}: {exc.strerror}") from None
            raise

    def publish(self) -> None:
        target = self.target
        if target.is_stdout:
            sys.stdout.write(self.data.decode())
            sys.stdout.flush()
            return
        real = target.real
        kind = _not_regular(real)
        if kind is not None:
            raise OutputFileError(f"{target.shown} became {kind} meanwhile; not replaced")
        try:
            if target.replace:
                os.replace(self.tmp, real)
            else:
                self._link(real)
        except OutputFileError:
            raise
        except OSError as exc:
            raise OutputFileError(f"cannot write {target.shown}: {exc.strerror}") from None
        self.tmp = None

    def _link(self, real: Path) -> None:
        """Publish without replacing: a hard link fails if the name appeared meanwhile."""
        try:
            os.link(self.tmp, real)
        except FileExistsError:
            raise OutputFileError(f"{self.target.shown} appeared while exactprune was working; "
                                  "not replaced (pass --force to overwrite it)") from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if real.exists():  # a file system without hard links: check, then rename
                raise OutputFileError(f"{self.target.shown} appeared while exactprune was "
                                      "working; not replaced (pass --force)") from None
            os.replace(self.tmp, real)
            return
        self.tmp.unlink()

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


class Outputs:
    """Stage outputs, then publish them together (a context manager that discards on error).

    `stage` writes the temporary file at once (a full disk fails here, before anything is
    published); `publish` renames them in order and returns their names. Should a rename fail
    after others succeeded, the error names the files already written.
    """

    def __init__(self) -> None:
        self._staged: list[_Staged] = []

    def stage(self, target: Target, data: bytes | str) -> None:
        try:
            staged = _Staged(target, data.encode() if isinstance(data, str) else data)
        except OutputFileError as exc:
            self.discard()
            raise OutputFileError(f"{exc}; nothing was written") from None
        self._staged.append(staged)

    def publish(self) -> list[str]:
        """Rename the staged files into place, with Ctrl-C held until all are (a Ctrl-C that
        came meanwhile then ends the command as Interrupted, naming what was written)."""
        done: list[str] = []
        try:
            with deferred():
                for item in self._staged:
                    item.publish()
                    done.append(item.target.shown)
        except OutputFileError as exc:
            written = f"; already written: {', '.join(done)}" if done else "; nothing was written"
            raise OutputFileError(f"{exc}{written}") from None
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted; written: {', '.join(done) or 'nothing'}") from None
        finally:
            self.discard()
        return done

    def discard(self) -> None:
        for item in self._staged:
            item.discard()
        self._staged = []

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind, error, trace) -> None:
        self.discard()


def write_atomic(path: str | Path | Target, data: bytes | str, protect: str | Path | None = None,
                 replace: bool = True) -> Path | None:
    """Check `path` (unless it is a Target already) and write `data` to it atomically."""
    target = path if isinstance(path, Target) else check_target(path, replace=replace,
                                                                protect=protect)
    with Outputs() as out:
        out.stage(target, data)
        out.publish()
    return target.real
