"""The built-in connector: records what would be sent, for shops with no platform wired up yet."""

import json
import threading
from pathlib import Path

from rich.console import Console

from shequn.engine.models import ActionRecord


class LogConnector:
    """Appends each action as one JSON line; the outbox itself keeps the record either way."""

    name = "log"

    def __init__(self, path: Path | None, *, console: Console | None = None) -> None:
        self.path = path
        self.console = console
        self._lock = threading.Lock()

    def perform(self, action: ActionRecord) -> None:
        line = json.dumps(
            {
                "id": action.id,
                "org": action.org,
                "kind": action.kind,
                "platform": action.platform,
                "group": action.group_id,
                "member": action.member_id,
                "payload": action.payload,
            },
            ensure_ascii=False,
        )
        with self._lock:
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as log:
                    log.write(line + "\n")
        if self.console is not None:
            self.console.log(
                f"[dim]would {action.kind}[/] {action.group_id or ''} {action.payload}"
            )
