"""Reading a result file while a background thread downloads it, through a bounded buffer in memory.

`StreamedDownload` runs `ZuoraClient.download_to` in a thread that puts the bytes in a `_Pipe` of at most
`BUFFER_BYTES`; its first reader takes them as they come, so parsing overlaps the transfer and nothing is
written to disk (on this kind of machine, writing a 1.3 GB file costs more CPU than parsing it). A cut
download is resumed by the thread (a `Range` request), unseen by the reader; a download error reaches the
reader once it has consumed every byte received before the error. A later reader (a second look at the file
after a parse error, to name the line) downloads the file again: Zuora serves the same bytes for a file id.
Closing the `StreamedDownload` (or the first reader) stops the thread.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import BinaryIO

import requests

from zuora_assets.zuora.client import DOWNLOAD_CHUNK, ZuoraClient

JOIN_SECONDS = 30.0  # how long closing waits for the download thread to notice that it must stop
BUFFER_BYTES = 8 * DOWNLOAD_CHUNK  # bytes received and not yet read: the download waits beyond this


class _Pipe:
    """Bytes from one writer (the download thread) to one reader, at most `max_bytes` waiting in between."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.cond = threading.Condition()
        self.chunks: deque[memoryview] = deque()
        self.waiting = 0  # bytes written and not yet read
        self.written = 0
        self.ended = False
        self.error: BaseException | None = None
        self.closed = False  # by the reader: what is still written is dropped

    # -- the writer (a sink of `ZuoraClient.download_to`) -------------------------------------------

    def write(self, data: bytes) -> int:
        with self.cond:
            self.cond.wait_for(lambda: self.waiting < self.max_bytes or self.closed)
            if not self.closed:
                self.chunks.append(memoryview(data))
                self.waiting += len(data)
            self.written += len(data)
            self.cond.notify_all()
        return len(data)

    def tell(self) -> int:
        return self.written

    def end(self, error: BaseException | None) -> None:
        with self.cond:
            self.ended, self.error = True, error
            self.cond.notify_all()

    # -- the reader ---------------------------------------------------------------------------------

    def readinto(self, buffer) -> int:
        """Copy waiting bytes into `buffer` (waiting for some); 0 at the end; raises the download's error."""
        with self.cond:
            self.cond.wait_for(lambda: self.chunks or self.ended)
            if not self.chunks:
                if self.error is not None:
                    raise self.error
                return 0
            head = self.chunks[0]
            n = min(len(buffer), len(head))
            buffer[:n] = head[:n]
            if n == len(head):
                self.chunks.popleft()
            else:
                self.chunks[0] = head[n:]
            self.waiting -= n
            self.cond.notify_all()
            return n

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.chunks.clear()
            self.waiting = 0
            self.cond.notify_all()


class _PipeReader(io.RawIOBase):
    """A raw reader of a `StreamedDownload`'s bytes; closing it stops the download."""

    def __init__(self, download: StreamedDownload):
        self._download = download

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self._download._pipe.readinto(memoryview(buffer).cast("B"))

    def close(self) -> None:
        if not self.closed:
            self._download.close()
        super().close()


class StreamedDownload:
    """One result file being downloaded by a thread while its reader parses it."""

    def __init__(self, client: ZuoraClient, path: str, response: requests.Response,
                 buffer_bytes: int = BUFFER_BYTES):
        """Start downloading `path`, continuing the already opened `response` of it."""
        self.path = path
        self._client = client
        self._pipe = _Pipe(buffer_bytes)
        self._stop = threading.Event()
        self._taken = False
        self._thread = threading.Thread(
            target=self._run, args=(response,), name=f"download {path}", daemon=True
        )
        self._thread.start()

    @property
    def size(self) -> int:
        """Bytes received so far (all of them once the download has finished)."""
        with self._pipe.cond:
            return self._pipe.written

    def reader(self) -> BinaryIO:
        """A reader of the file from its first byte: this download the first time, a new one after that."""
        if self._taken:
            again = StreamedDownload(self._client, self.path, self._client.stream(self.path))
            again._taken = True
            return io.BufferedReader(_PipeReader(again), buffer_size=DOWNLOAD_CHUNK)
        self._taken = True
        return io.BufferedReader(_PipeReader(self), buffer_size=DOWNLOAD_CHUNK)

    def wait(self) -> BaseException | None:
        """Wait until the download has ended; return its error, if it failed."""
        with self._pipe.cond:
            self._pipe.cond.wait_for(lambda: self._pipe.ended)
            return self._pipe.error

    def close(self) -> None:
        """Stop the download thread (if it still runs) and wait for it."""
        self._stop.set()
        self._pipe.close()
        self._thread.join(JOIN_SECONDS)

    def __enter__(self) -> StreamedDownload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, response: requests.Response) -> None:
        error: BaseException | None = None
        try:
            self._client.download_to(self.path, self._pipe, response=response, stop=self._stop)
        except BaseException as exc:  # handed to the reader, which raises it in the consumer's thread
            error = exc
        self._pipe.end(error)
