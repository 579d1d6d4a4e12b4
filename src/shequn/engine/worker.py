"""The background loops of `shequn serve`: one runs due jobs, one per connector sends the outbox."""

# A loop per connector: a platform that is slow to answer, or asks to wait, delays only its own
# actions, never another platform's or the 20:30 jobs.

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
        self._threads = [
            threading.Thread(
                target=self._loop, args=("jobs", self.run_jobs), name="shequn-jobs", daemon=True
            ),
            *(
                threading.Thread(
                    target=self._loop,
                    args=(name, self._dispatcher(name)),
                    name=f"shequn-send-{name}",
                    daemon=True,
                )
                for name in sorted(registry.connectors)
            ),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def tick(self) -> None:
        """One round of everything, in this thread: jobs, then every connector's due actions."""
        now = self.clock()
        run_due_jobs(self.sessions, self.registry, now=now, console=self.console)
        dispatch_due(self.sessions, self.registry, now=now)

    def run_jobs(self) -> None:
        run_due_jobs(self.sessions, self.registry, now=self.clock(), console=self.console)

    def _dispatcher(self, connector: str) -> Callable[[], None]:
        def dispatch() -> None:
            dispatch_due(self.sessions, self.registry, now=self.clock(), connectors={connector})

        return dispatch

    def _report(self, message: str) -> None:
        if self.console is not None:
            self.console.log(message)

    def _loop(self, name: str, step: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                step()
            except SQLAlchemyError as error:
                # The database may be restarting; the next round tries again.
                self._report(f"[yellow]worker {name}: database error, retrying: {error}[/]")
            except Exception as error:
                # A bug in one job or connector must not stop every later job and send.
                self._report(f"[red]worker {name}: {type(error).__name__}: {error}[/]")
                logger.exception("worker %s failed", name)
            self._stop.wait(self.tick_seconds)
