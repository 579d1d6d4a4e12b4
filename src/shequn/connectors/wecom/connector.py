"""Carries outbox actions out in WeCom customer groups, where most need an employee's hand.

WeCom lets an app neither remove a customer from a group nor post into one on its own: a removal
is an employee's task, and a group post is a group-send task (add_msg_template) that the group's
owner confirms in their WeCom client. Such an action waits in the outbox as `awaiting`, with its
task in `payload.task`, until it is done: a group send is checked with get_groupmsg_send_result,
a removal or re-admission by hand is seen in the group's member list (groupchat/get), and any
task may be closed with `shequn tasks done ID`. Past its deadline (`payload.deadline`,
an ISO instant; by default a day for a send, three for a task) it fails.
"""

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shequn.connectors.wecom.client import RateLimited, WeComClient, WeComError, WeComUnavailable
from shequn.connectors.wecom.runner import LoopThread
from shequn.engine.action import ActionAwaiting, ActionFailed, ActionKind
from shequn.engine.models import ActionRecord
from shequn.kit.time import to_utc, utc_now

SEND_DEADLINE = timedelta(days=1)
TASK_DEADLINE = timedelta(days=3)
# How often a confirmed send is looked for: WeCom counts calls per minute.
CHECK_EVERY = timedelta(minutes=5)
# get_groupmsg_send_result's status for "not sent yet"; 1 sent, 2 and 3 will never be.
NOT_SENT = 0
# get_groupmsg_send_result: 1 sent; 2 and 3 are WeCom's refusals (not a friend, sent already).
SENT = 1

# How often a removal (or re-admission) by hand is looked for in the group's member list.
MEMBERSHIP_CHECK_EVERY = timedelta(minutes=15)
# Tasks whose completion the member list shows: the member gone, or back.
MEMBERSHIP_TASKS: dict[str, str] = {
    ActionKind.KICK_MEMBER: "absent",
    ActionKind.RESTORE_MEMBER: "present",
}
GROUP_SENDS = frozenset({ActionKind.SEND_MESSAGE, ActionKind.WARN_MEMBER})
# What an employee does by hand, in both languages the dashboard speaks.
HAND_TASKS: dict[str, tuple[str, str]] = {
    ActionKind.KICK_MEMBER: ("将成员 {member} 移出群 {group}", "Remove {member} from group {group}"),
    ActionKind.RESTORE_MEMBER: ("将成员 {member} 重新拉回群 {group}", "Add {member} back to group {group}"),
    ActionKind.RENAME_GROUP: ("将群 {group} 改名为「{name}」", "Rename group {group} to “{name}”"),
    ActionKind.SET_NOTICE: ("在群 {group} 发布群公告", "Post the group notice in group {group}"),
    ActionKind.SEND_DIRECT_MESSAGE: ("私聊 {member} 发送消息", "Send {member} a direct message"),
    ActionKind.CREATE_TASK: ("{text}", "{text}"),
}  # fmt: skip


class WeComConnector:
    """Carries out actions for one WeCom app; a group's id is its chat_id."""

    name = "wecom"

    def __init__(
        self,
        client: WeComClient,
        *,
        runner: LoopThread | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.client = client
        self.runner = runner if runner is not None else LoopThread()
        self._clock = clock
        # A send created but not yet recorded as a task: a retry after a crash of the recording
        # (this process alive) picks it up instead of asking the employee twice.
        self._created: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def perform(self, action: ActionRecord) -> None:
        task = action.payload.get("task")
        try:
            if isinstance(task, Mapping):
                self._check(action, task)
            elif action.kind in GROUP_SENDS:
                self._group_send(action)
            elif action.kind in HAND_TASKS:
                self._hand_task(action)
            else:
                raise ActionFailed(
                    f"{action.kind} is not something WeCom lets an app do", retryable=False
                )
        except RateLimited as error:
            raise ActionFailed.wait(str(error), error.retry_after) from error
        except WeComUnavailable as error:
            raise ActionFailed(str(error), retryable=True) from error
        except WeComError as error:
            raise ActionFailed(str(error), retryable=False) from error
        except TimeoutError as error:
            raise ActionFailed("WeCom did not answer in time", retryable=True) from error

    def _group_send(self, action: ActionRecord) -> None:
        group = _required(action, action.group_id, "group")
        text = action.payload.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ActionFailed(f"{action.kind} needs a text", retryable=False)
        with self._lock:
            task = self._created.get(action.id)
        if task is None:
            sender = action.payload.get("sender")
            if not isinstance(sender, str) or not sender:
                # The group's owner is the one WeCom asks to confirm a send into it.
                details = self.runner.run(self.client.groupchat_get(group))
                sender = str(details.get("owner") or "")
            if not sender:
                raise ActionFailed(f"group {group} has no owner to send as", retryable=False)
            result = self.runner.run(
                self.client.add_msg_template(sender=sender, text=text, chat_ids=[group])
            )
            if group in result.fail_list:
                raise ActionFailed(f"WeCom cannot send into group {group}", retryable=False)
            deadline = _deadline(action, self._clock(), SEND_DEADLINE)
            task = {
                "kind": "group_send",
                "msgid": result.msgid,
                "sender": sender,
                "deadline": deadline.isoformat(),
                "zh": f"请 {sender} 在企业微信中确认群发到群 {group}",
                "en": f"{sender} to confirm the group send to group {group} in WeCom",
            }
            with self._lock:
                self._created[action.id] = task
        raise ActionAwaiting(task, check_after=CHECK_EVERY)

    def _hand_task(self, action: ActionRecord) -> None:
        zh, en = HAND_TASKS[action.kind]
        names = {
            "member": action.member_id or "",
            "group": action.group_id or "",
            "name": str(action.payload.get("name") or ""),
            "text": str(action.payload.get("text") or action.cause),
        }
        deadline = _deadline(action, self._clock(), TASK_DEADLINE)
        task: dict[str, Any] = {
            "kind": "by_hand",
            "deadline": deadline.isoformat(),
            "zh": zh.format(**names),
            "en": en.format(**names),
        }
        if action.kind in MEMBERSHIP_TASKS and action.group_id and action.member_id:
            # Whether it was done shows in the group's member list: looked for from time to time.
            task["check"] = MEMBERSHIP_TASKS[action.kind]
        reason = action.payload.get("reason")
        if isinstance(reason, str) and reason:
            task["reason"] = reason
        text = action.payload.get("text")
        if isinstance(text, str) and action.kind != ActionKind.CREATE_TASK:
            task["text"] = text
        raise ActionAwaiting(task, check_after=self._next_check(task, deadline))

    def _next_check(self, task: Mapping[str, Any], deadline: datetime) -> timedelta:
        # A task nothing can check is looked at again at its deadline, to fail it.
        every = CHECK_EVERY if "msgid" in task else MEMBERSHIP_CHECK_EVERY
        left = max(deadline - self._clock(), timedelta(0))
        return min(every, left) if "msgid" in task or "check" in task else left

    def _is_done(self, action: ActionRecord, task: Mapping[str, Any]) -> bool:
        msgid, sender = task.get("msgid"), task.get("sender")
        if isinstance(msgid, str) and isinstance(sender, str):
            entries = self.runner.run(self.client.groupmsg_send_result(msgid, sender))
            refused = sorted({str(e.get("status")) for e in entries} - {str(NOT_SENT), str(SENT)})
            if refused:
                raise ActionFailed(
                    f"WeCom did not send the group message (status {', '.join(refused)})",
                    retryable=False,
                )
            return bool(entries) and all(entry.get("status") == SENT for entry in entries)
        check = task.get("check")
        if check in ("absent", "present") and action.group_id and action.member_id:
            details = self.runner.run(self.client.groupchat_get(action.group_id))
            members = details.get("member_list")
            present: bool = isinstance(members, list) and any(
                isinstance(entry, Mapping) and entry.get("userid") == action.member_id
                for entry in members
            )
            return present is (check == "present")
        return False

    def _check(self, action: ActionRecord, task: Mapping[str, Any]) -> None:
        now = self._clock()
        deadline = _instant(task.get("deadline")) or now
        if self._is_done(action, task):
            with self._lock:
                self._created.pop(action.id, None)
            return
        if now >= deadline:
            raise ActionFailed(
                f"not done by its deadline {deadline.isoformat()}: {task.get('en')}",
                retryable=False,
            )
        raise ActionAwaiting(task, check_after=self._next_check(task, deadline))


def _required(action: ActionRecord, value: str | None, what: str) -> str:
    if not value:
        raise ActionFailed(f"{action.kind} needs a {what}", retryable=False)
    return value


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return to_utc(instant) if instant.tzinfo is not None else None


def _deadline(action: ActionRecord, now: datetime, default: timedelta) -> datetime:
    given = action.payload.get("deadline")
    if given is None:
        return now + default
    deadline = _instant(given)
    if deadline is None:
        raise ActionFailed("deadline: an ISO instant with its UTC offset", retryable=False)
    return deadline
