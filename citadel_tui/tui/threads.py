"""Blocking calls the dashboard may abandon: each runs in a daemon thread of its own.

Textual's thread workers run in asyncio's default executor, whose threads are joined when the
app exits; a store that hangs would then hold `q` until its timeout. A daemon thread is not
joined: quitting leaves it behind, and cancelling the awaiting worker just stops waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_daemon_thread(name: str, call: Callable[[], T]) -> T:
    """Run `call` in a new daemon thread and wait for its result (or exception)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            result = call()
        except BaseException as exc:  # handed to the awaiting task, which re-raises it
            report = exc
            _post(loop, lambda: settle(lambda: future.set_exception(report)))
        else:
            _post(loop, lambda: settle(lambda: future.set_result(result)))

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    """Hand the outcome to the loop, unless the app has exited and closed it meanwhile."""
    try:
        loop.call_soon_threadsafe(callback)
    except RuntimeError:
        pass
