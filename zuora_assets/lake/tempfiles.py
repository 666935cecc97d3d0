"""Local temp files that a killed writer may leave behind, and how to remove them without touching a live one's.

A writer creates its temp file with `locked_temp_file`, which holds an exclusive `flock` on it until the file
is released: the lock dies with the process, so a file nobody locks belongs to no live writer.
`remove_stale` deletes only such files, and only when they are older than a safe age as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

STALE_AFTER_SECONDS = 3600.0  # an unlocked temp file this old belongs to a writer that died


@dataclass
class LockedTempFile:
    """A temp file created for one writer, locked until `release()` removes it."""

    path: Path
    fd: int

    def release(self) -> None:
        """Delete the file, then drop the lock (closing its descriptor); safe to call twice."""
        if self.fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = -1


def locked_temp_file(folder: Path, *, prefix: str, suffix: str) -> LockedTempFile:
    """A new empty file in `folder` (created if missing) with an exclusive lock held by this process."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        Path(path).unlink(missing_ok=True)
        raise
    return LockedTempFile(Path(path), fd)


def remove_stale(
    folder: Path,
    *,
    suffix: str,
    older_than: float = STALE_AFTER_SECONDS,
    now: Callable[[], float] = time.time,
) -> list[Path]:
    """Delete the files `*<suffix>` in `folder` last modified over `older_than` seconds ago that no process
    locks; return them. A file that a live writer holds is never touched, however old."""
    removed = []
    cutoff = now() - older_than
    try:
        candidates = [p for p in folder.iterdir() if p.name.endswith(suffix)]
    except FileNotFoundError:
        return removed
    for path in candidates:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff and _remove_if_unlocked(path):
                removed.append(path)
    return removed


def _remove_if_unlocked(path: Path) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer holds it
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)
