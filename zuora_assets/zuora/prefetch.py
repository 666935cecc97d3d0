"""A bounded prefetch: a thread produces an iterator's items ahead of its consumer, within a byte budget.

So that producing (download and CSV parsing) and consuming (Parquet writing and uploading) run on two
cores at once: pyarrow releases the GIL while it parses and writes. The budget is in bytes rather than
items because the consumer works in bursts (a whole row group at a time): the producer must be able to
keep going through a burst, and memory must stay bounded whatever the item size. The producer's
exception is raised in the consumer when it reaches it; closing (or dropping) the consumer stops the
producer, which then closes its iterator in its own thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from zuora_assets.common.failures import InvalidValue

T = TypeVar("T")
log = logging.getLogger(__name__)

JOIN_SECONDS = 30.0  # how long a closed consumer waits for the producer to stop


class _Buffer(Generic[T]):
    """The items produced and not yet consumed, their bytes, and how production ended."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.cond = threading.Condition()
        self.items: deque[tuple[T, int]] = deque()
        self.bytes = 0
        self.ended = False
        self.error: BaseException | None = None
        self.stopped = False  # set by the consumer: produce no more

    def put(self, item: T, size: int) -> bool:
        """Queue `item` once the buffer is under budget; False if the consumer stopped first."""
        with self.cond:
            self.cond.wait_for(lambda: self.bytes < self.max_bytes or self.stopped)
            if self.stopped:
                return False
            self.items.append((item, size))
            self.bytes += size
            self.cond.notify_all()
            return True

    def end(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.ended, self.error = True, error
            self.cond.notify_all()

    def take(self) -> tuple[bool, T | None]:
        """(True, next item), or (False, None) at the end; raises the producer's error."""
        with self.cond:
            self.cond.wait_for(lambda: self.items or self.ended)
            if self.items:
                item, size = self.items.popleft()
                self.bytes -= size
                self.cond.notify_all()
                return True, item
            if self.error is not None:
                raise self.error
            return False, None

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.items.clear()
            self.cond.notify_all()


def prefetch(items: Iterator[T], max_bytes: int, size: Callable[[T], int], name: str = "prefetch") -> Iterator[T]:
    """The items of `items` in order, produced by a thread named `name` while the ones not yet consumed
    hold less than `max_bytes` (as measured by `size`; at least one item is always let through)."""
    if max_bytes < 1:
        raise InvalidValue(f"prefetch budget must be at least 1 byte, got {max_bytes}")
    buffer: _Buffer[T] = _Buffer(max_bytes)
    producer = threading.Thread(target=_produce, args=(items, buffer, size), name=name, daemon=True)
    producer.start()
    try:
        while True:
            more, item = buffer.take()
            if not more:
                return
            yield item  # type: ignore[misc]
    finally:
        buffer.stop()
        producer.join(JOIN_SECONDS)
        if producer.is_alive():
            log.warning("%s: the producer thread is still busy %.0f s after its consumer stopped; leaving it",
                        name, JOIN_SECONDS)


def _produce(items: Iterator[T], buffer: _Buffer[T], size: Callable[[T], int]) -> None:
    """Put every item into `buffer`, then its end (or the error), until the consumer stops."""
    error: BaseException | None = None
    try:
        for item in items:
            if not buffer.put(item, size(item)):
                break
    except BaseException as exc:  # handed to the consumer, which raises it
        error = exc
    finally:
        try:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            error = error or exc
        buffer.end(error)
