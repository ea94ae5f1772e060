"""Read ahead: produce the next chunk of a file in a thread while the database writes this one.

Reading and checking a CSV block (Arrow, which releases the GIL) and writing the previous block
(the database driver, which releases it while the database works) overlap on a second core.
At most ``depth`` chunks wait in between, so memory stays bounded by a few blocks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")
_DONE = object()
_POLL_SECONDS = 0.1


def prefetched(items: Iterable[Item], depth: int = 1) -> Iterator[Item]:
    """The items of ``items`` in order, produced one step ahead in a background thread.

    An exception in the producer is raised here, where the item it failed on would have come.
    Leaving the loop early (an exception in the consumer) stops the producer.
    """
    waiting: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            offer(_Failure(exc))
            return
        offer(_DONE)

    producer = threading.Thread(target=produce, name="import-read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item = waiting.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join()


class _Failure:
    """An exception raised by the producer, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
