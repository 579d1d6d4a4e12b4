"""One event loop in a thread of its own, where the async WeCom client lives.

The dispatcher is synchronous and the web app's loop is another's: both hand coroutines to this
loop, so the client's connection pool and token lock are only ever used from one loop.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
# A call that WeCom has not answered by then is treated as no answer (the client's own timeout
# is shorter; this only guards against a loop that stopped).
CALL_TIMEOUT = 60.0


class LoopThread:
    def __init__(self, name: str = "shequn-wecom") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = CALL_TIMEOUT) -> T:
        """Run to completion from a thread that has no running loop (the dispatcher's)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._started()).result(timeout)

    async def run_async(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await from another loop (a request handler's) without blocking that loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._started())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        # Started on first use: building a registry that is never dispatched from costs nothing.
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name=self.name, daemon=True
                )
                self._thread.start()
            return self._loop
