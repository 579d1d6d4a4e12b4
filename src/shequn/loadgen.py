"""A deterministic synthetic event log for benchmarks and crash tests: same arguments, same log."""

import json
import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Any

BEIJING = timezone(timedelta(hours=8))
DEFAULT_START = datetime(2026, 11, 1, 9, 0, tzinfo=BEIJING)
CAPACITY = 500
MEAN_GAP_SECONDS = 2.0
LATE_SHARE = 0.01
INITIAL_MEMBER_SHARE = 0.08
MAX_INITIAL_MEMBERS = 60
RECENT_MESSAGES = 20
RECENT_REACTIONS = 10
DISMISS_FROM = 0.9

# Traffic mix by weight; what remains after the named kinds (about 4%) is refunds and dismissals.
TRAFFIC = (
    ("message", 80.0),
    ("reaction.added", 8.0),
    ("reaction.removed", 1.0),
    ("join", 4.0),
    ("leave", 2.0),
    ("order", 1.0),
    ("refund", 0.2),
    ("dismiss", 0.02),
)
KINDS = [kind for kind, _ in TRAFFIC]
CUMULATIVE = list(accumulate(weight for _, weight in TRAFFIC))

MESSAGE_KINDS = ["text", "image", "link", "mini_program", "red_packet", "video", "voice", "card"]
MESSAGE_WEIGHTS = [80, 8, 3, 3, 2, 2, 1, 1]
TEXTS = [
    "今晚8:30,群内抽奖",
    "签到",
    "这件多少钱?",
    "有没有M码",
    "已下单",
    "好看!",
    "什么时候发货",
    "求链接",
    "谢谢群主",
    "打卡第3天",
    "收到了,质量很好",
    "@群主 优惠券怎么用",
]
EMOJIS = ["👍", "❤️", "🎉", "😂", "🔥"]
NICKNAMES = ["小美", "阿芳", "晓雯", "Lily", "莉莉", "静静", "王姐", "宝宝妈", "Amy", "小鹿"]
CHANNELS = ["moments", "poster", "store_qr", "douban", "kol", "referral"]
GENDERS = ["female", "female", "female", "male", "unknown"]
CATALOGUE = [
    ("dress-01", "599.00"),
    ("coat-02", "1299.00"),
    ("shirt-03", "189.90"),
    ("scarf-04", "89.50"),
    ("skirt-05", "359.00"),
    ("socks-06", "19.90"),
]


@dataclass
class _Group:
    id: str
    store: str
    owner: str
    members: list[str] = field(default_factory=list)
    slot: dict[str, int] = field(default_factory=dict)
    joined_at: dict[str, datetime] = field(default_factory=dict)
    former: list[str] = field(default_factory=list)
    messages: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_MESSAGES))
    reactions: deque[tuple[str, str, str]] = field(
        default_factory=lambda: deque(maxlen=RECENT_REACTIONS)
    )
    last_at: datetime = DEFAULT_START

    def add(self, member: str, at: datetime) -> None:
        self.slot[member] = len(self.members)
        self.members.append(member)
        self.joined_at[member] = at

    def remove(self, member: str) -> None:
        # Swap-remove keeps picking a random member O(1) on large groups.
        index = self.slot.pop(member)
        last = self.members.pop()
        if last != member:
            self.members[index] = last
            self.slot[last] = index
        del self.joined_at[member]
        self.former.append(member)


class _Generator:
    def __init__(
        self, *, groups: int, seed: int, org: str, start: datetime, mean_gap: float
    ) -> None:
        self.rng = random.Random(seed)
        self.mean_gap = mean_gap
        self.org = org
        self.clock = start
        self.stores = groups // 30 + 1
        self.staff = groups // 10 + 1
        self.groups: list[_Group] = []
        self.open: list[_Group] = []
        self.profiled: set[str] = set()
        self.members = 0
        self.counter = 0
        self.orders: list[tuple[str, Decimal]] = []
        self.dismissed = 0

    def event(
        self, kind: str, at: datetime, data: dict[str, Any], *, source: str = "telegram"
    ) -> dict[str, Any]:
        self.counter += 1
        prefix = "tg" if source == "telegram" else source
        return {
            "id": f"{prefix}-{self.counter}",
            "type": kind,
            "at": at.isoformat(),
            "source": source,
            "org": self.org,
            "data": data,
        }

    def tick(self) -> datetime:
        seconds = self.rng.expovariate(1.0 / self.mean_gap)
        self.clock += timedelta(seconds=round(seconds))
        return self.clock

    def when(self, group: _Group, member: str | None = None) -> datetime:
        """Now, or for about 1% of events a few minutes before the group's previous event."""
        now = self.tick()
        if self.rng.random() < LATE_SHARE:
            late = group.last_at - timedelta(seconds=self.rng.randint(60, 300))
            # Never before the member joined: a late event is late, not impossible.
            floor = group.joined_at.get(member) if member is not None else None
            if floor is not None:
                late = max(late, floor + timedelta(seconds=1))
            if late < now:
                return late
        group.last_at = now
        return now

    def profile(self, member: str, at: datetime) -> dict[str, Any]:
        self.profiled.add(member)
        rng = self.rng
        data: dict[str, Any] = {
            "member": member,
            "nickname": f"{rng.choice(NICKNAMES)}-{member}",
            "gender": rng.choice(GENDERS),
            "channel": rng.choice(CHANNELS),
        }
        if rng.random() < 0.05:
            data["avatar"] = {"url": f"https://img.example/{member}.jpg", "flags": ["stock_photo"]}
        if rng.random() < 0.1:
            data["signature"] = "每天进步一点点"
        return self.event("member.upserted", at, data)

    def join(self, group: _Group, member: str, *, at: datetime, setup: bool) -> dict[str, Any]:
        rng = self.rng
        data: dict[str, Any] = {"group": group.id, "member": member}
        inviters = [m for m in group.members[-50:] if m != group.owner]
        if member == group.owner:
            data["via"] = {"kind": "direct"}
        elif inviters and rng.random() < (0.3 if setup else 0.5):
            inviter = rng.choice(inviters)
            data["inviter"] = inviter
            data["via"] = {"kind": "invite_link", "code": f"inv-{inviter}"}
        else:
            kind = rng.choice(["live_code", "qr", "direct", "unknown"])
            data["via"] = {"kind": kind}
            if kind == "live_code":
                data["via"]["code"] = f"live-{group.store}"
        group.add(member, at)
        return self.event("member.joined", at, data)

    def setup(self, index: int, initial: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        store = f"s{index % self.stores + 1}"
        owner = f"staff-{rng.randrange(self.staff) + 1}"
        group = _Group(id=f"g{index + 1}", store=store, owner=owner, last_at=self.clock)
        self.groups.append(group)
        self.open.append(group)
        yield self.event(
            "group.upserted",
            self.when(group),
            {
                "group": group.id,
                "name": f"福利群{index + 1}",
                "capacity": CAPACITY,
                "store": store,
                "owner": owner,
                "tags": ["vip"] if index % 7 == 0 else [],
            },
        )
        if owner not in self.profiled:
            yield self.profile(owner, self.when(group))
        yield self.join(group, owner, at=self.when(group), setup=True)
        for _ in range(initial):
            member = self.new_member()
            yield self.profile(member, self.when(group))
            yield self.join(group, member, at=self.when(group), setup=True)

    def new_member(self) -> str:
        self.members += 1
        return f"u{self.members}"

    def traffic(self, progress: float) -> Iterator[dict[str, Any]]:
        rng = self.rng
        kind = rng.choices(KINDS, cum_weights=CUMULATIVE)[0]
        # A few groups are busy and most are quiet, as in practice.
        group = self.open[int(len(self.open) * rng.random() ** 1.5)]
        if kind == "reaction.removed" and not group.reactions:
            kind = "reaction.added"
        if kind == "reaction.added" and not group.messages:
            kind = "message"
        if kind == "leave" and len(group.members) < 2:
            kind = "join"
        if kind == "join" and len(group.members) >= CAPACITY:
            kind = "message"
        if kind == "refund" and not self.orders:
            kind = "order"
        if kind == "dismiss" and (progress < DISMISS_FROM or len(self.open) < 2):
            kind = "message"
        if kind == "join":
            yield from self.traffic_join(group)
        elif kind == "leave":
            yield self.leave(group)
        elif kind == "order":
            yield self.order(group)
        elif kind == "refund":
            yield self.refund(group)
        elif kind == "dismiss":
            self.open.remove(group)
            yield self.event("group.dismissed", self.when(group), {"group": group.id})
        elif kind == "reaction.removed":
            member, message, emoji = group.reactions.pop()
            at = self.when(group, member if member in group.slot else None)
            yield self.event(
                "reaction.removed",
                at,
                {
                    "group": group.id,
                    "member": member,
                    "message": message,
                    "emoji": emoji,
                },
            )
        else:
            member = rng.choice(group.members)
            at = self.when(group, member)
            if kind == "reaction.added":
                message, emoji = rng.choice(group.messages), rng.choice(EMOJIS)
                group.reactions.append((member, message, emoji))
                yield self.event(
                    "reaction.added",
                    at,
                    {
                        "group": group.id,
                        "member": member,
                        "message": message,
                        "emoji": emoji,
                    },
                )
            else:
                yield self.message(group, member, at)

    def message(self, group: _Group, member: str, at: datetime) -> dict[str, Any]:
        rng = self.rng
        message = f"m{self.counter + 1}"
        group.messages.append(message)
        kind = rng.choices(MESSAGE_KINDS, MESSAGE_WEIGHTS)[0]
        data: dict[str, Any] = {
            "group": group.id,
            "member": member,
            "message": message,
            "kind": kind,
        }
        if kind == "text":
            data["text"] = rng.choice(TEXTS)
            if rng.random() < 0.05:
                data["mentions"] = [group.owner]
        return self.event("message.posted", at, data)

    def traffic_join(self, group: _Group) -> Iterator[dict[str, Any]]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.15 and group.former:
            member = group.former.pop(rng.randrange(len(group.former)))
            if member in group.slot:
                member = self.new_member()
        elif roll < 0.25 and len(self.groups) > 1:
            other = rng.choice(self.groups)
            candidates = [
                m for m in other.members[-20:] if m not in group.slot and m != other.owner
            ]
            member = rng.choice(candidates) if candidates else self.new_member()
        else:
            member = self.new_member()
        if member not in self.profiled:
            yield self.profile(member, self.when(group))
        yield self.join(group, member, at=self.when(group), setup=False)

    def leave(self, group: _Group) -> dict[str, Any]:
        rng = self.rng
        member = rng.choice(group.members)
        while member == group.owner:
            member = rng.choice(group.members)
        at = self.when(group, member)
        group.remove(member)
        data: dict[str, Any] = {"group": group.id, "member": member, "reason": "quit"}
        if rng.random() < 0.2:
            data["reason"], data["by"] = "kicked", group.owner
        return self.event("member.left", at, data)

    def order(self, group: _Group) -> dict[str, Any]:
        rng = self.rng
        member = rng.choice(group.members)
        items, amount = [], Decimal(0)
        for sku, price in rng.sample(CATALOGUE, rng.randint(1, 3)):
            qty = rng.choice([1, 1, 1, 2, 3])
            items.append({"sku": sku, "qty": qty, "unit_price": price})
            amount += Decimal(price) * qty
        order = f"o{len(self.orders) + 1}"
        self.orders.append((order, amount))
        data: dict[str, Any] = {
            "order": order,
            "member": member,
            "group": group.id,
            "store": group.store,
            "staff": group.owner,
            "items": items,
            "amount": f"{amount:.2f}",
        }
        if rng.random() < 0.2:
            data["coupon"] = "no-threshold-100"
        return self.event("order.paid", self.when(group, member), data, source="shop")

    def refund(self, group: _Group) -> dict[str, Any]:
        rng = self.rng
        order, amount = rng.choice(self.orders[-200:])
        data: dict[str, Any] = {"order": order}
        if rng.random() < 0.5:
            data["amount"] = f"{(amount * rng.randint(1, 9) / 10):.2f}"
        return self.event("order.refunded", self.when(group), data, source="shop")


def generate_events(
    *,
    events: int,
    groups: int,
    seed: int = 1,
    org: str = "bench",
    start: datetime | None = None,
    mean_gap: float = MEAN_GAP_SECONDS,
) -> Iterator[dict[str, Any]]:
    """Yield exactly `events` contract events: groups set up with members first, then traffic,
    `mean_gap` seconds apart on average (so the log spans about events × mean_gap seconds)."""
    if events <= 0 or groups <= 0:
        return
    if mean_gap <= 0:
        raise ValueError(f"mean_gap: {mean_gap} is not a positive number of seconds")
    generator = _Generator(groups=groups, seed=seed, org=org, start=start or DEFAULT_START,
                           mean_gap=mean_gap)  # fmt: skip
    initial = min(MAX_INITIAL_MEMBERS, int(events / groups * INITIAL_MEMBER_SHARE / 2))
    produced = 0
    for index in range(groups):
        for item in generator.setup(index, initial):
            yield item
            produced += 1
            if produced >= events:
                return
    while True:
        for item in generator.traffic(produced / events):
            yield item
            produced += 1
            if produced >= events:
                return


def write_jsonl(path: str | Path, events_iter: Iterable[dict[str, Any]]) -> int:
    """Write events as JSON Lines; returns how many were written."""
    written = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for item in events_iter:
            out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            written += 1
    return written
