"""The background loop of `shequn serve`: runs due jobs and dispatches the outbox."""

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from shequn.engine.dispatch import dispatch_due
from shequn.engine.registry import Registry
from shequn.engine.scheduler import run_due_jobs
from shequn.kit.time import utc_now

logger = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: Registry,
        *,
        tick_seconds: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
        console: Console | None = None,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.console = console
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="shequn-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self) -> None:
        now = self.clock()
        run_due_jobs(self.sessions, self.registry, now=now, console=self.console)
        dispatch_due(self.sessions, self.registry, now=now)

    def _report(self, message: str) -> None:
        if self.console is not None:
            self.console.log(message)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except SQLAlchemyError as error:
                # The database may be restarting; the next tick tries again.
                self._report(f"[yellow]worker: database error, retrying: {error}[/]")
            except Exception as error:
                # A bug in one job or connector must not stop every later job and send.
                self._report(f"[red]worker: {type(error).__name__}: {error}[/]")
                logger.exception("worker tick failed")
            self._stop.wait(self.tick_seconds)
