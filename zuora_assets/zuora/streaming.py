"""Reading a result file while a background thread is still downloading it into a temporary file.

`FollowedDownload` runs `ZuoraClient.download` in a thread; its readers return the bytes already on
disk and wait for more until the download ends, so parsing overlaps the transfer. A download error
reaches the reader once it has consumed every byte received before the error; closing the
`FollowedDownload` stops the thread and waits for it, so the file can be removed.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import BinaryIO

import requests

from zuora_assets.zuora.client import ZuoraClient

JOIN_SECONDS = 30.0  # how long closing waits for the download thread to notice that it must stop


class FollowedDownload:
    """One result file being downloaded to `dest` by a thread while readers follow it."""

    def __init__(self, client: ZuoraClient, path: str, dest: Path, response: requests.Response):
        """Start downloading `path` into `dest`, continuing the already opened `response` of it."""
        self.path = path
        self.dest = dest
        self._cond = threading.Condition()
        self._size = 0
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        dest.touch()
        self._thread = threading.Thread(
            target=self._run, args=(client, response), name=f"download {path}", daemon=True
        )
        self._thread.start()

    @property
    def size(self) -> int:
        """Bytes on disk so far (all of them once the download has finished)."""
        with self._cond:
            return self._size

    def reader(self) -> BinaryIO:
        """A new reader of the file from its first byte that waits for bytes not yet downloaded."""
        return io.BufferedReader(_FollowingReader(self), buffer_size=1 << 20)

    def wait(self) -> BaseException | None:
        """Wait until the download has ended; return its error, if it failed."""
        with self._cond:
            self._cond.wait_for(lambda: self._done)
            return self._error

    def close(self) -> None:
        """Stop the download thread (if it still runs) and wait for it."""
        self._stop.set()
        self._thread.join(JOIN_SECONDS)

    def __enter__(self) -> FollowedDownload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the download thread ------------------------------------------------------------------------

    def _run(self, client: ZuoraClient, response: requests.Response) -> None:
        error: BaseException | None = None
        try:
            client.download(self.path, self.dest, response=response, on_bytes=self._wrote, stop=self._stop)
        except BaseException as exc:  # handed to the reader, which raises it in the consumer's thread
            error = exc
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()

    def _wrote(self, size: int) -> None:
        with self._cond:
            self._size = size
            self._cond.notify_all()

    # -- for readers --------------------------------------------------------------------------------

    def _available(self, offset: int) -> int:
        """Bytes readable at `offset` once some are (0 at the end of a complete file); raises a failed download's error."""
        with self._cond:
            self._cond.wait_for(lambda: self._size > offset or self._done)
            if self._size > offset:
                return self._size - offset
            if self._error is not None:
                raise self._error
            return 0


class _FollowingReader(io.RawIOBase):
    """A raw reader of a `FollowedDownload`'s file that blocks until the bytes it asks for exist."""

    def __init__(self, download: FollowedDownload):
        self._download = download
        self._file = open(download.dest, "rb", buffering=0)  # noqa: SIM115 (closed with the reader)
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._download._available(self._offset))
        if wanted == 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:wanted])
        self._offset += got or 0
        return got or 0

    def close(self) -> None:
        self._file.close()
        super().close()
