"""The connector protocol: platform traffic in as contract events, outbox actions out."""

from typing import Protocol

from shequn.engine.models import ActionRecord


class Connector(Protocol):
    """Carries out actions on one platform.

    `perform` returns when the platform accepted the action and raises
    `shequn.engine.action.ActionFailed` when it did not, saying whether a retry may help.
    It must tolerate being called again for an action it already carried out
    (the dispatcher may crash between the platform's answer and its own commit).
    """

    name: str

    def perform(self, action: ActionRecord) -> None: ...
