"""The simulated community: people in groups living through a scenario, as contract events.

Deterministic for a seed: one `random.Random` drives everything, and nothing is iterated in an
order Python leaves open. It streams: the state is the community (who is in which group), never
the events already produced, so a day of 10,000 groups runs in constant memory.

Time runs as a discrete-event simulation. Planned happenings (a group opening, a fission
attempt, an invitee arriving, a scheduled leave or order, an effect of shequn's actions) wait
in a heap; everyday traffic (chatter, sign-ins, adverts, organic joins, quits, everyday orders)
is a Poisson process whose rate follows the hour of the day and each group's weight, drawn one
arrival at a time. Both are merged in time order, so every event is stamped no earlier than
the one before it.
"""

import heapq
import math
import random
import re
import threading
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from itertools import accumulate
from typing import Any, Final

from shequn.commerce.rules import coupon_code
from shequn.kit.money import format_amount
from shequn.kit.time import parse_clock, zone
from shequn.simulate import names
from shequn.simulate.scenarios import FissionPlan, Scenario, check

Event = dict[str, Any]

DAY: Final = 86_400
# Rates change every quarter of an hour: fine enough for a 20:30 rush, coarse enough to be cheap.
SLOT: Final = 900
SLOTS_PER_DAY: Final = DAY // SLOT
# A group of this size at liveliness 1 posts the scenario's messages_per_day.
REFERENCE_MEMBERS: Final = 500

# Talkers carry a group's chatter, lurkers now and then say something, the silent never do
# (they may still buy); fakes advertise; staff post the campaign.
TALKER, REGULAR, LURKER, SILENT, FAKE, STAFF = range(6)
ACTIVE_TIERS = (TALKER, REGULAR, LURKER)
REAL_TIERS = (TALKER, REGULAR, LURKER, SILENT)
PROFILED, ENGAGED, WARNED = 1, 2, 4

# When people are on their phones: morning, noon and evening peaks (seed 004), night quiet.
CHATTER_HOURS = (
    0.35, 0.15, 0.08, 0.05, 0.05, 0.1, 0.35, 0.9, 1.5, 1.3, 1.0, 1.2,
    1.7, 1.4, 0.9, 0.8, 0.8, 0.9, 1.1, 1.4, 1.9, 2.1, 1.5, 0.8,
)  # fmt: skip
# Sign-ins come in the morning, when points systems ask for them.
SIGN_IN_HOURS = (
    0.02, 0.0, 0.0, 0.0, 0.0, 0.1, 1.5, 4.0, 5.0, 3.5, 2.0, 1.0,
    0.6, 0.4, 0.3, 0.2, 0.2, 0.2, 0.3, 0.4, 0.5, 0.5, 0.3, 0.1,
)  # fmt: skip
# Advertisers work office hours.
DAYTIME_HOURS = (0.1,) * 7 + (1.0,) * 15 + (0.3,) * 2
# The slogan hours before a draw fill the group with "今晚8:30,群内抽奖" on top of the chatter.
SLOGAN_LIFT: Final = 1.3
MESSAGE_KINDS = ("text", "image", "video", "voice", "mini_program", "link", "red_packet")
MESSAGE_WEIGHTS = tuple(accumulate((0.8, 0.12, 0.02, 0.03, 0.01, 0.01, 0.01)))
AD_KINDS = ("text", "link", "card", "mini_program")
# Fakes recruit fakes: most of an advertiser's "friends" are advertisers too.
FAKE_INVITES_FAKE: Final = 0.8
# Organic invitations fade with each generation as in fission, only more slowly.
ORGANIC_DECAY: Final = 0.6
STOCK_AVATARS: Final = 40
# Leaves an @-mention of a newcomer talks out of (the seed's tool welcomed each by name).
ENGAGED_STAY: Final = 0.5
LOTTERY_WORDS = ("抽奖", "draw", "lottery")
COUPON_WORDS = ("券", "coupon", "优惠")
# What shequn's lottery announcements ask members to say to enter: 发送「…」 / Say “…”.
KEYWORD = re.compile(r"(?:发送|[Ss]ay)\s*[「“\"]([^」”\"]{1,20})[」”\"]")
STAFF_POSTS = ("morning", "teaser", "draw", "result", "next", "coupon", "sale", "welcome")


class _Traffic(IntEnum):
    CHATTER = 0
    SIGN_IN = 1
    AD = 2
    JOIN = 3
    QUIT = 4
    BUY = 5


class _Do(IntEnum):
    OPEN = 0
    FISSION = 1
    ARRIVE = 2
    SWEEP = 3
    LEAVE = 4
    SALE = 5
    ORDER = 6
    REFUND = 7
    STAFF_POST = 8
    COUPON = 9
    KICK = 10
    REJOIN = 11
    LIFT_ON = 12
    LIFT_OFF = 13
    RENAME = 14


class _Leave(IntEnum):
    EARLY = 0
    FLOOD = 1


TRAFFIC = tuple(_Traffic)
# (time, sequence, what, three integer arguments, one text argument)
_Item = tuple[float, int, int, int, int, int, str]


def _per_slot(hours: Sequence[float]) -> tuple[float, ...]:
    mean = sum(hours) / len(hours)
    return tuple(hours[slot * SLOT // 3600] / mean for slot in range(SLOTS_PER_DAY))


CHATTER_SHAPE = _per_slot(CHATTER_HOURS)
SIGN_IN_SHAPE = _per_slot(SIGN_IN_HOURS)
DAYTIME_SHAPE = _per_slot(DAYTIME_HOURS)


class _Weights:
    """Integer weights, one per group, with O(log n) updates and weighted picks (a Fenwick tree)."""

    __slots__ = ("_size", "_top", "_tree", "_values", "total")

    def __init__(self, size: int) -> None:
        self._size = size
        self._top = 1 << (size.bit_length() - 1) if size else 0
        self._tree = [0] * (size + 1)
        self._values = [0] * size
        self.total = 0

    def value(self, index: int) -> int:
        return self._values[index]

    def set(self, index: int, value: int) -> None:
        delta = value - self._values[index]
        if delta == 0:
            return
        self._values[index] = value
        self.total += delta
        position = index + 1
        while position <= self._size:
            self._tree[position] += delta
            position += position & -position

    def find(self, target: int) -> int:
        """The index whose share of the running total holds `target` (0 <= target < total)."""
        position, step, tree = 0, self._top, self._tree
        while step:
            following = position + step
            if following <= self._size and tree[following] <= target:
                position = following
                target -= tree[following]
            step >>= 1
        return position


class _Group:
    """A group's live state: who is in it, by tier, and what is going on in it."""

    __slots__ = (
        "ads_silenced", "buy_lift", "buy_rate", "capacity", "channels", "count", "coupon",
        "coupon_drop", "coupon_holders", "coupon_threshold", "coupon_use", "coupon_value", "id", "index", "keyword", "keyword_until", "lifts",
        "lively", "members", "name", "open", "opens_at", "organic", "owner", "reacted", "recent",
        "sale", "slot", "store", "tags", "target", "undecided", "willingness", "window_count",
        "window_start",
    )  # fmt: skip

    def __init__(
        self,
        index: int,
        *,
        group_id: str,
        name: str,
        capacity: int,
        owner: int,
        store: str | None,
        tags: tuple[str, ...],
        lively: int,
        willingness: float = 1.0,
        buy_rate: float = 0.0,
        channels: tuple[str, ...] = ("unknown",),
        organic: bool = False,
        target: int = 0,
        opens_at: float = 0.0,
    ) -> None:
        self.index = index
        self.id = group_id
        self.name = name
        self.capacity = capacity
        self.owner = owner
        self.store = store
        self.tags = tags
        self.lively = lively
        self.willingness = willingness
        self.buy_rate = buy_rate
        self.channels = channels
        self.organic = organic
        self.target = target
        self.opens_at = opens_at
        self.open = False
        # Members by tier (talkers, regulars, lurkers, silent, fakes); their places in `slot`.
        self.members: tuple[list[int], ...] = ([], [], [], [], [])
        self.slot: dict[int, int] = {}
        self.count = 0
        self.lifts = 0
        self.buy_lift = 1.0
        self.coupon: str | None = None
        self.coupon_value = 0
        self.coupon_threshold = 0
        self.coupon_use = 0.0
        # A drop by shequn gives each member then in the group a code of their own.
        self.coupon_drop: Drop | None = None
        self.coupon_holders: frozenset[int] = frozenset()
        self.keyword: str | None = None
        self.keyword_until = 0.0
        self.recent: deque[str] = deque(maxlen=20)
        self.reacted: deque[tuple[int, str, str]] = deque(maxlen=10)
        self.window_start = -math.inf
        self.window_count = 0
        self.ads_silenced = 0
        # A sale day's members who decided not to buy, with their draw: a coupon may tip them.
        self.undecided: dict[int, float] = {}
        # The running sale's peak, its day's end and the share of orders after the peak.
        self.sale: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Drop:
    """A coupon drop as the shop sees it: each holder's code follows from template and cause."""

    template: str
    cause: str
    amount_off: int
    threshold: int = 0


@dataclass(frozen=True)
class Request:
    """An action shequn asked the simulated platform to carry out."""

    id: str
    kind: str
    group: str | None = None
    member: str | None = None
    text: str | None = None
    mentions: tuple[str, ...] = ()
    name: str | None = None
    coupon: Drop | None = None


@dataclass(frozen=True)
class Received:
    """A request as the world took it: when (simulated time) and what it changed."""

    at: datetime
    request: Request
    effect: str


@dataclass
class Tally:
    """What the world has produced so far, by event type."""

    by_type: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0) + 1

    @property
    def events(self) -> int:
        return sum(self.by_type.values())


class World:
    """A scenario's community, advanced in simulated time; feed it shequn's actions with receive."""

    def __init__(self, scenario: Scenario, *, seed: int = 1, org: str | None = None) -> None:
        check(scenario)
        self.scenario = scenario
        self.org = org or scenario.org
        # Codes from shequn's drops already paid with: a coupon is spent once.
        self._spent: set[str] = set()
        self.seed = seed
        self.received: list[Received] = []
        self.tally = Tally()
        self._rng = random.Random(seed)
        self._source = scenario.source
        self._prefix = "sim"
        first = date.fromisoformat(scenario.start)
        local = datetime(first.year, first.month, first.day, tzinfo=zone(scenario.timezone))
        offset = local.utcoffset() or timedelta(0)
        # One offset for the whole run: a scenario of days does not straddle a DST change
        # often enough to be worth the cost of a zone lookup per event.
        self._offset = int(offset.total_seconds())
        sign = "-" if self._offset < 0 else "+"
        hours, minutes = divmod(abs(self._offset) // 60, 60)
        self._offset_text = f"{sign}{hours:02d}:{minutes:02d}"
        self._start = local.timestamp()
        self._end = self._start + scenario.days * DAY
        self._prologue_start = self._start - scenario.prologue_days * DAY
        self._clock = self._prologue_start
        self._day_text: dict[int, str] = {}
        self._last_second, self._last_stamp = -1, ""
        self._count = 0
        self._orders = 0
        self._seq = 0
        self._out: list[Event] = []
        self._heap: list[_Item] = []
        self._inbox: deque[Request] = deque()
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        # People, by number: tier, invite generation, flags, and the last day they signed in.
        self._tier = bytearray(b"\x00")
        self._generation = bytearray(b"\x00")
        self._flags = bytearray(b"\x00")
        self._signed = array("H", [0])
        self._staff_ids: dict[int, str] = {}
        self._staff_of: dict[str, int] = {}
        self._staff_names: dict[int, str] = {}
        self._keep_names = scenario.fleet is None
        self._nicknames: dict[int, str] = {}
        self._groups: list[_Group] = []
        self._group_of: dict[str, int] = {}
        self._phase_until: dict[int, float] = {}
        evenings = scenario.evenings
        self._evening_days = frozenset(evenings.days if evenings else ())
        # Seconds after local midnight of the evening event and of the slogan hours before it.
        self._draw_at = self._at(1, evenings.at) - self._start if evenings else 0.0
        self._slogan_at = self._at(1, evenings.slogan_from) - self._start if evenings else 0.0
        self._draw_until = self._draw_at + (evenings.minutes * 60 if evenings else 0)
        self._slogan_share = evenings.slogan_share if evenings else 0.0
        self._set_up_people()
        self._set_up_groups()
        self._weights = [_Weights(len(self._groups)) for _ in _Traffic]
        self._rates = [0.0] * len(_Traffic)
        self._slot = 0
        self._ambient_at = math.inf
        self._ambient_total = 0.0
        self._is_boundary = True
        self._dirty = True
        self._stale = True
        self._settling = True
        self._prologue = self._prologue_steps()
        self._prologue_next: float | None = next(self._prologue, None)
        if self._prologue_next is None:
            self._begin()

    def _set_up_people(self) -> None:
        activity = self.scenario.activity
        shares = activity.tier_shares
        self._tier_cumulative = tuple(accumulate(share / sum(shares) for share in shares))
        self._tier_weights = activity.tier_weights
        weights = activity.tier_weights
        mean_weight = sum(
            share / sum(shares) * weight for share, weight in zip(shares, weights, strict=False)
        )
        # The chatter weight of a lively group of REFERENCE_MEMBERS, liveliness 100%.
        reference = 100 * REFERENCE_MEMBERS * mean_weight
        chatter = activity.messages_per_day * (1 + activity.reactions_per_message)
        self._reaction_odds = activity.reactions_per_message
        self._units = (
            chatter / reference / DAY if reference else 0.0,
            activity.sign_in_share / DAY,
            self.scenario.fakes.ads_per_day / DAY,
            (self.scenario.fleet.organic_joins if self.scenario.fleet else 0.0) / 100 / DAY,
            self.scenario.leaving.daily_share / DAY,
            self.scenario.commerce.daily_buy_rate / 1000 / DAY,
        )
        commerce = self.scenario.commerce
        self._catalogue = commerce.catalogue
        self._catalogue_cumulative = tuple(accumulate(p.weight for p in commerce.catalogue))
        self._items_cumulative = tuple(accumulate(commerce.items_per_buyer))
        population = self.scenario.population
        self._texts_en = population.locale == "en"
        self._staff_texts = names.STAFF_EN if self._texts_en else names.STAFF_ZH

    def _set_up_groups(self) -> None:
        scenario, rng = self.scenario, self._rng
        for staff in scenario.staff:
            self._new_staff(staff.id, staff.nickname)
        for plan in scenario.groups:
            if plan.owner not in self._staff_of:
                self._new_staff(plan.owner, names.staff_nickname(rng, "运营"))
            opens_at = -math.inf if plan.opens_day == 0 else self._at(plan.opens_day, plan.opens_at)
            self._add_group(
                _Group(
                    len(self._groups),
                    group_id=plan.id,
                    name=plan.name,
                    capacity=plan.capacity,
                    owner=self._staff_of[plan.owner],
                    store=plan.store,
                    tags=plan.tags,
                    lively=round(100 * plan.liveliness),
                    willingness=plan.willingness,
                    buy_rate=plan.buy_rate,
                    channels=plan.channels,
                    target=plan.members,
                    opens_at=opens_at,
                )
            )
        fleet = scenario.fleet
        if fleet is None:
            return
        for store in range(fleet.stores):
            store_id = f"store-{store + 1:03d}"
            title = names.store_name(rng)
            salespeople = [
                self._new_staff(f"{store_id}-s{k + 1}", names.staff_nickname(rng, title))
                for k in range(fleet.staff_per_store)
            ]
            # Stores get their share of groups in one block: store 1 runs groups 1-34, and so on.
            first = store * fleet.groups // fleet.stores
            last = (store + 1) * fleet.groups // fleet.stores
            for number in range(first, last):
                size = round(fleet.median_members * math.exp(rng.gauss(0, fleet.member_spread)))
                spread = fleet.liveliness_spread
                lively = math.exp(rng.gauss(-spread * spread / 2, spread))
                self._add_group(
                    _Group(
                        len(self._groups),
                        group_id=f"g{number + 1:05d}",
                        name=f"{title}福利{number - first + 1}群",
                        capacity=fleet.capacity,
                        owner=salespeople[rng.randrange(len(salespeople))],
                        store=store_id,
                        tags=(),
                        lively=max(1, round(100 * lively)),
                        channels=fleet.channels,
                        organic=True,
                        target=min(fleet.capacity - 1, max(2, size)),
                        opens_at=-math.inf,
                    )
                )

    def _add_group(self, group: _Group) -> None:
        self._group_of[group.id] = group.index
        self._groups.append(group)

    def _new_staff(self, staff_id: str, nickname: str) -> int:
        person = self._new_person(tier=STAFF, generation=0)
        self._staff_ids[person] = staff_id
        self._staff_of[staff_id] = person
        self._staff_names[person] = nickname
        return person

    # Time

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self._start, UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self._end, UTC)

    @property
    def prologue_start(self) -> datetime:
        return datetime.fromtimestamp(self._prologue_start, UTC)

    @property
    def clock(self) -> float:
        """Simulated now, in Unix seconds: the time of the latest happening."""
        return self._clock

    @property
    def clock_span(self) -> float:
        """Simulated seconds from the prologue's start to the scenario's end."""
        return self._end - self._prologue_start

    @property
    def clock_elapsed(self) -> float:
        return self._clock - self._prologue_start

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock, UTC)

    @property
    def finished(self) -> bool:
        return self._prologue_next is None and self._next_time() >= self._end

    def _at(self, day: int, clock: str) -> float:
        hour, minute = parse_clock(clock)
        return self._start + (day - 1) * DAY + hour * 3600 + minute * 60

    def _stamp(self, moment: float) -> str:
        second = int(moment)
        # Busy worlds stamp many events within one second.
        if second == self._last_second:
            return self._last_stamp
        self._last_second, self._last_stamp = second, self._format(second)
        return self._last_stamp

    def _format(self, second: int) -> str:
        local = second + self._offset
        day, second = divmod(local, DAY)
        text = self._day_text.get(day)
        if text is None:
            text = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
            self._day_text[day] = text
        hour, rest = divmod(second, 3600)
        minute, second = divmod(rest, 60)
        return f"{text}T{hour:02d}:{minute:02d}:{second:02d}{self._offset_text}"

    def _day_and_time(self) -> tuple[int, float]:
        """The scenario day (1-based) and the seconds since its local midnight."""
        day, of_day = divmod(self._clock - self._start, DAY)
        return int(day) + 1, of_day

    # Running

    def events(self) -> Iterator[Event]:
        """Every event from the prologue to the scenario's end, in time order."""
        return self.advance(self.end)

    def advance(self, until: datetime) -> Iterator[Event]:
        """The events up to `until` (inclusive); shequn's actions received meanwhile take effect."""
        # Consume each advance to its end: events of a step left unread are not produced again.
        limit = min(until.timestamp(), self._end)
        while True:
            if self._inbox:
                self._drain()
            if self._prologue_next is not None:
                if self._prologue_next > limit:
                    break
                self._prologue_next = next(self._prologue, None)
                if self._prologue_next is None:
                    self._begin()
            else:
                upcoming = self._next_time()
                if upcoming > limit or upcoming >= self._end:
                    break
                self._step()
            if self._out:
                out, self._out = self._out, []
                yield from out
        self._clock = max(self._clock, limit)

    def _next_time(self) -> float:
        if self._dirty:
            self._redraw()
        if self._heap and self._heap[0][0] <= self._ambient_at:
            return self._heap[0][0]
        return self._ambient_at

    def _step(self) -> None:
        if self._heap and self._heap[0][0] <= self._ambient_at:
            item = heapq.heappop(self._heap)
            self._clock = max(self._clock, item[0])
            self._happen(item)
            return
        self._clock = self._ambient_at
        if self._is_boundary:
            self._slot += 1
            self._set_rates()
        else:
            self._traffic()
        self._dirty = True

    def _redraw(self) -> None:
        # Memoryless arrivals: after any change of rate the next one is drawn afresh from now.
        if self._stale:
            self._ambient_total = sum(
                rate * weights.total
                for rate, weights in zip(self._rates, self._weights, strict=True)
            )
            self._stale = False
        total = self._ambient_total
        boundary = self._start + (self._slot + 1) * SLOT
        upcoming = self._clock + self._rng.expovariate(total) if total > 0 else math.inf
        self._is_boundary = upcoming >= boundary
        self._ambient_at = boundary if self._is_boundary else upcoming
        self._dirty = False

    def _set_rates(self) -> None:
        self._stale = True
        day, of_day = divmod(self._slot, SLOTS_PER_DAY)
        chatter = CHATTER_SHAPE[of_day]
        units = self._units
        self._rates = [
            units[0] * chatter * self._day_factor(day + 1) * self._evening_factor(day + 1, of_day),
            units[1] * SIGN_IN_SHAPE[of_day],
            units[2] * DAYTIME_SHAPE[of_day],
            units[3] * chatter,
            units[4] * chatter,
            units[5] * chatter,
        ]

    def _day_factor(self, day: int) -> float:
        factors = self.scenario.activity.day_factors
        return factors[day - 1] if day <= len(factors) else 1.0

    def _evening_factor(self, day: int, of_day: int) -> float:
        evenings = self.scenario.evenings
        if evenings is None or day not in self._evening_days:
            return 1.0
        hour, minute = parse_clock(evenings.at)
        begin = (hour * 3600 + minute * 60) // SLOT
        if begin <= of_day < begin + max(1, evenings.minutes * 60 // SLOT):
            return evenings.lift
        hour, minute = parse_clock(evenings.slogan_from)
        return SLOGAN_LIFT if (hour * 3600 + minute * 60) // SLOT <= of_day < begin else 1.0

    def _begin(self) -> None:
        """The scenario's first day: plan what is planned, then let everyday traffic run."""
        scenario = self.scenario
        self._settling = False
        self._clock = max(self._clock, self._start)
        self._slot = 0
        self._set_rates()
        for group in self._groups:
            self._reweigh(group)
        for group in self._groups:
            if not group.open and group.opens_at >= self._start:
                self._plan(group.opens_at, _Do.OPEN, group.index)
        for index, phase in enumerate(scenario.fission):
            self._plan(self._at(phase.day, phase.start), _Do.FISSION, index)
        for index, sale in enumerate(scenario.sales):
            self._plan(self._at(sale.day, "00:00"), _Do.SALE, index)
        for index, coupon in enumerate(scenario.coupons):
            self._plan(self._at(coupon.day, coupon.at), _Do.COUPON, index)
        evenings = scenario.evenings
        if evenings is not None and evenings.staff_posts:
            for group in self._groups:
                for day in sorted(self._evening_days):
                    if day > scenario.days:
                        continue
                    draw = self._at(day, evenings.at)
                    times = [
                        self._at(day, "08:30"),
                        self._at(day, evenings.slogan_from),
                        draw,
                        draw + 600,
                        draw + 3600 if day < scenario.days else math.inf,
                    ]
                    for code, moment in enumerate(times):
                        self._plan(moment, _Do.STAFF_POST, group.index, code)
                for sale in scenario.sales:
                    sale_post = STAFF_POSTS.index("sale")
                    self._plan(
                        self._at(sale.day, sale.peak), _Do.STAFF_POST, group.index, sale_post
                    )
        self._dirty = True

    def _plan(
        self, moment: float, what: int, a: int = 0, b: int = 0, c: int = 0, text: str = ""
    ) -> None:
        if moment >= self._end:
            return
        self._seq += 1
        heapq.heappush(self._heap, (max(moment, self._clock), self._seq, what, a, b, c, text))

    # The prologue: the groups' history before the scenario starts

    def _prologue_steps(self) -> Iterator[float]:
        rng = self._rng
        existing = [group for group in self._groups if group.opens_at < self._start]
        moment = self._prologue_start
        for group in existing:
            moment += 1
            yield moment
            self._clock = moment
            self._open(group)
        remaining = _Weights(len(self._groups))
        for group in existing:
            remaining.set(group.index, group.target)
        total = remaining.total
        if not total:
            return
        first = moment + 60
        gap = (self._start - 60 - first) / total
        for number in range(total):
            moment = first + (number + rng.random()) * gap
            yield moment
            self._clock = moment
            index = remaining.find(self._below(remaining.total))
            remaining.set(index, remaining.value(index) - 1)
            self._settle(self._groups[index])

    def _settle(self, group: _Group) -> None:
        """A member who joined before the scenario: fans, store customers, friends of friends."""
        rng = self._rng
        fake = rng.random() < self.scenario.fakes.share
        fleet = self.scenario.fleet
        invite_share = fleet.invite_share if fleet else 0.3
        inviter = self._pick_real(group) if not fake and rng.random() < invite_share else None
        if inviter is not None and rng.random() >= ORGANIC_DECAY ** self._generation[inviter]:
            inviter = None
        generation = 0 if inviter is None else self._generation[inviter] + 1
        person = self._new_person(tier=FAKE if fake else self._draw_tier(), generation=generation)
        if self.scenario.prologue_profiles:
            channel = "referral" if inviter is not None else self._channel(group)
            self._profile(person, channel)
        if inviter is not None:
            self._join(group, person, inviter=inviter, via="invite_link", code=self._code(inviter))
        else:
            self._join(group, person, via="qr", code=f"qr-{group.store or group.id}")

    # People

    def _new_person(self, *, tier: int, generation: int) -> int:
        person = len(self._tier)
        self._tier.append(tier)
        self._generation.append(min(generation, 255))
        self._flags.append(0)
        self._signed.append(0)
        return person

    def _draw_tier(self) -> int:
        return bisect_right(self._tier_cumulative, self._rng.random() * self._tier_cumulative[-1])

    def _ext(self, person: int) -> str:
        return self._staff_ids.get(person) or f"u{person}"

    def _person_of(self, member: str | None) -> int | None:
        if member is None:
            return None
        staff = self._staff_of.get(member)
        if staff is not None:
            return staff
        if member.startswith("u") and member[1:].isdigit():
            person = int(member[1:])
            if 0 < person < len(self._tier) and person not in self._staff_ids:
                return person
        return None

    def _code(self, inviter: int) -> str:
        return f"inv-{self._ext(inviter)}"

    def _channel(self, group: _Group) -> str:
        return group.channels[self._below(len(group.channels))]

    def _profile(self, person: int, channel: str) -> None:
        rng = self._rng
        population = self.scenario.population
        self._flags[person] |= PROFILED
        member = self._ext(person)
        tier = self._tier[person]
        data: dict[str, Any] = {"member": member}
        signature: str | None
        avatar: dict[str, Any] = {"url": f"https://img.example/u/{member}.jpg"}
        album: dict[str, Any] | None = None
        if tier == STAFF:
            nickname, gender, signature = self._staff_names[person], "unknown", None
        elif tier == FAKE:
            nickname = names.fake_nickname(
                rng, names.FAKE_LOOKS[rng.randrange(len(names.FAKE_LOOKS))]
            )
            roll = rng.random()
            gender = "female" if roll < 0.6 else "male" if roll < 0.85 else "unknown"
            stock, payments, slogan = rng.random() < 0.6, rng.random() < 0.4, rng.random() < 0.5
            # The name and at least one more signal: the combination the seed's operator kicks on.
            if not (stock or payments or slogan):
                stock = True
            if stock:
                url = f"https://img.example/stock/{rng.randrange(STOCK_AVATARS)}.jpg"
                avatar = {"url": url, "flags": ["stock_photo"]}
            if payments:
                album = {"flags": ["payment_screenshots"]}
            signature = names.fake_signature(rng) if slogan else None
        else:
            roll = rng.random()
            if roll < population.female_share:
                gender = "female"
            elif roll < population.female_share + population.male_share:
                gender = "male"
            else:
                gender = "unknown"
            nickname = names.real_nickname(
                rng,
                "male" if gender == "male" else "female",
                english_share=0.8 if self._texts_en else population.english_share,
            )
            signature = names.real_signature(
                rng, population.locale, motivational_share=population.motivational_share
            )
        data["nickname"] = nickname
        data["gender"] = gender
        if signature is not None:
            data["signature"] = signature
        data["avatar"] = avatar
        if album is not None:
            data["album"] = album
        data["channel"] = channel
        if self._keep_names:
            self._nicknames[person] = nickname
        self._event("member.upserted", data)

    def _known(self, person: int, group: _Group) -> None:
        """Make sure the member's profile went out before anything they do."""
        if not self._flags[person] & PROFILED:
            self._profile(person, self._channel(group))

    # Membership

    def _add(self, group: _Group, person: int) -> None:
        tier = self._tier[person]
        if tier == STAFF:
            group.slot[person] = -1
        else:
            members = group.members[tier]
            group.slot[person] = len(members)
            members.append(person)
        group.count += 1
        self._reweigh(group)

    def _remove(self, group: _Group, person: int) -> None:
        index = group.slot.pop(person)
        group.count -= 1
        tier = self._tier[person]
        if tier != STAFF:
            # Swap-remove keeps picking and leaving O(1) in a group of 500.
            members = group.members[tier]
            last = members.pop()
            if last != person:
                members[index] = last
                group.slot[last] = index
        self._reweigh(group)

    def _reweigh(self, group: _Group) -> None:
        # The prologue only fills groups; their weights are set once when the scenario begins.
        if self._settling:
            return
        talkers, regulars, lurkers, silent, fakes = (len(members) for members in group.members)
        weights, index = self._weights, group.index
        tier = self._tier_weights
        active = talkers + regulars + lurkers
        real = active + silent
        lift = round(100 * self.scenario.activity.lottery_lift) if group.lifts else 100
        chatter = tier[0] * talkers + tier[1] * regulars + tier[2] * lurkers
        weights[_Traffic.CHATTER].set(index, group.lively * lift * chatter // 100)
        weights[_Traffic.SIGN_IN].set(index, active)
        weights[_Traffic.AD].set(index, fakes)
        has_room = group.open and group.organic and group.count < group.capacity
        weights[_Traffic.JOIN].set(index, group.lively if has_room else 0)
        weights[_Traffic.QUIT].set(index, real + fakes)
        weights[_Traffic.BUY].set(index, real * round(1000 * group.buy_lift))
        self._dirty = self._stale = True

    def _pick_real(self, group: _Group) -> int | None:
        return self._pick_among(group, REAL_TIERS)

    def _pick_active(self, group: _Group) -> int | None:
        return self._pick_among(group, ACTIVE_TIERS)

    def _pick_among(self, group: _Group, tiers: Sequence[int]) -> int | None:
        total = sum(len(group.members[tier]) for tier in tiers)
        if not total:
            return None
        index = self._below(total)
        for tier in tiers:
            members = group.members[tier]
            if index < len(members):
                return members[index]
            index -= len(members)
        return None

    def _pick_speaker(self, group: _Group) -> int | None:
        tiers = self._tier_weights
        sizes = [len(group.members[tier]) * tiers[tier] for tier in ACTIVE_TIERS]
        total = sum(sizes)
        if not total:
            return None
        target = self._below(total)
        for tier, size in enumerate(sizes):
            if target < size:
                members = group.members[tier]
                return members[target // tiers[tier]]
            target -= size
        return None

    def _pick_anyone(self, group: _Group) -> int | None:
        total = sum(len(members) for members in group.members)
        if not total:
            return None
        index = self._below(total)
        for members in group.members:
            if index < len(members):
                return members[index]
            index -= len(members)
        return None

    # Events

    def _event(self, kind: str, data: dict[str, Any], *, source: str | None = None) -> None:
        self._count += 1
        self.tally.add(kind)
        self._out.append(
            {
                "id": f"{'shop' if source == 'shop' else self._prefix}-{self._count}",
                "type": kind,
                "at": self._stamp(self._clock),
                "source": source or self._source,
                "org": self.org,
                "data": data,
            }
        )

    def _open(self, group: _Group) -> None:
        group.open = True
        data: dict[str, Any] = {"group": group.id, "name": group.name, "capacity": group.capacity}
        if group.store is not None:
            data["store"] = group.store
        data["owner"] = self._ext(group.owner)
        data["tags"] = list(group.tags)
        self._event("group.upserted", data)
        if not self._flags[group.owner] & PROFILED:
            self._profile(group.owner, "staff")
        self._join(group, group.owner, via="direct")

    def _join(
        self,
        group: _Group,
        person: int,
        *,
        via: str,
        inviter: int | None = None,
        code: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"group": group.id, "member": self._ext(person)}
        if inviter is not None:
            data["inviter"] = self._ext(inviter)
        data["via"] = {"kind": via} if code is None else {"kind": via, "code": code}
        self._add(group, person)
        self._event("member.joined", data)

    def _newcomer(
        self,
        group: _Group,
        person: int,
        *,
        channel: str,
        via: str,
        inviter: int | None = None,
        code: str | None = None,
    ) -> None:
        if not self._flags[person] & PROFILED:
            self._profile(person, channel)
        self._join(group, person, via=via, inviter=inviter, code=code)
        leaving = self.scenario.leaving
        # Newcomers leave most in their first days; settled members seldom do.
        if self._rng.random() < leaving.newcomer_share:
            after = self._rng.expovariate(1 / (leaving.newcomer_days * DAY))
            self._plan(self._clock + after, _Do.LEAVE, group.index, person, _Leave.EARLY)

    def _leave(self, group: _Group, person: int, *, reason: str, by: int | None = None) -> None:
        data: dict[str, Any] = {"group": group.id, "member": self._ext(person), "reason": reason}
        if by is not None:
            data["by"] = self._ext(by)
        self._remove(group, person)
        self._event("member.left", data)

    def _post(
        self,
        group: _Group,
        person: int,
        kind: str,
        text: str | None = None,
        mentions: list[str] | None = None,
    ) -> None:
        message = f"msg-{self._count + 1}"
        data: dict[str, Any] = {
            "group": group.id,
            "member": self._ext(person),
            "message": message,
            "kind": kind,
        }
        if text is not None:
            data["text"] = text
        if mentions:
            data["mentions"] = mentions
        self._event("message.posted", data)
        group.recent.append(message)
        if self._clock - group.window_start > 3600:
            group.window_start, group.window_count = self._clock, 0
        group.window_count += 1
        if group.window_count == self.scenario.activity.flood_per_hour:
            self._flood(group)

    def _flood(self, group: _Group) -> None:
        """A flood of messages drives some members out within the hour."""
        share = self.scenario.activity.flood_leave
        for members in group.members:
            for person in members:
                if self._rng.random() < share:
                    after = self._rng.expovariate(1 / 1800)
                    self._plan(self._clock + after, _Do.LEAVE, group.index, person, _Leave.FLOOD)

    # Everyday traffic

    def _traffic(self) -> None:
        rng = self._rng
        share = rng.random() * self._ambient_total
        kind = _Traffic.BUY
        for candidate in TRAFFIC:
            part = self._rates[candidate] * self._weights[candidate].total
            if share < part:
                kind = candidate
                break
            share -= part
        weights = self._weights[kind]
        if weights.total <= 0:
            return
        group = self._groups[weights.find(self._below(weights.total))]
        if kind == _Traffic.CHATTER:
            self._chatter(group)
        elif kind == _Traffic.SIGN_IN:
            self._sign_in(group)
        elif kind == _Traffic.AD:
            self._advert(group)
        elif kind == _Traffic.JOIN:
            self._organic_join(group)
        elif kind == _Traffic.QUIT:
            person = self._pick_anyone(group)
            if person is not None:
                self._leave(group, person, reason="quit")
        else:
            person = self._pick_real(group)
            if person is not None:
                self._order(group, person, self._items())

    def _chatter(self, group: _Group) -> None:
        rng = self._rng
        if group.recent and rng.random() * (1 + self._reaction_odds) >= 1:
            self._react(group)
            return
        person = self._pick_speaker(group)
        if person is None:
            return
        self._known(person, group)
        en = self._texts_en
        text: str | None = None
        kind = "text"
        if group.keyword is not None and self._clock < group.keyword_until and rng.random() < 0.35:
            text = group.keyword
        elif self._evening_days:
            day, of_day = self._day_and_time()
            if day not in self._evening_days:
                pass
            elif self._draw_at <= of_day < self._draw_until and rng.random() < 0.4:
                text = self._choice(names.EVENING_EN if en else names.EVENING_ZH)
            elif self._slogan_at <= of_day < self._draw_at and rng.random() < self._slogan_share:
                text = names.SLOGAN_EN if en else names.SLOGAN_ZH
        if text is None:
            kind = MESSAGE_KINDS[bisect_right(MESSAGE_WEIGHTS, rng.random() * MESSAGE_WEIGHTS[-1])]
            if kind == "text":
                text = self._choice(names.CHAT_EN if en else names.CHAT_ZH)
        mentions = [self._ext(group.owner)] if rng.random() < 0.03 else None
        self._post(group, person, kind, text, mentions)

    def _react(self, group: _Group) -> None:
        rng = self._rng
        if group.reacted and rng.random() < 0.03:
            reactor, message, emoji = group.reacted.pop()
            if reactor in group.slot:
                data = {
                    "group": group.id,
                    "member": self._ext(reactor),
                    "message": message,
                    "emoji": emoji,
                }
                self._event("reaction.removed", data)
                return
        person = self._pick_active(group)
        if person is None:
            return
        self._known(person, group)
        message = group.recent[self._below(len(group.recent))]
        emoji = self._choice(names.EMOJI_REACTIONS)
        group.reacted.append((person, message, emoji))
        data = {"group": group.id, "member": self._ext(person), "message": message, "emoji": emoji}
        self._event("reaction.added", data)

    def _sign_in(self, group: _Group) -> None:
        person = self._pick_active(group)
        day = self._slot // SLOTS_PER_DAY + 1
        # Once a day: a second check-in earns nothing, so nobody sends one.
        if person is None or self._signed[person] == day:
            return
        self._signed[person] = day
        self._known(person, group)
        self._post(
            group,
            person,
            "text",
            self._choice(names.SIGN_INS_EN if self._texts_en else names.SIGN_INS_ZH),
        )

    def _advert(self, group: _Group) -> None:
        fakes = group.members[FAKE]
        if not fakes:
            return
        person = fakes[self._below(len(fakes))]
        # A warned advertiser keeps quiet (the seed's rule: first a warning, then removal).
        if self._flags[person] & WARNED:
            return
        self._known(person, group)
        kind = AD_KINDS[self._below(len(AD_KINDS))]
        text = self._choice(names.ADS_EN if self._texts_en else names.ADS_ZH)
        self._post(group, person, kind, text if kind == "text" else None)

    def _organic_join(self, group: _Group) -> None:
        rng = self._rng
        fleet = self.scenario.fleet
        if fleet is None or group.count >= group.capacity:
            return
        fake = rng.random() < self.scenario.fakes.share
        inviter = self._pick_real(group) if not fake and rng.random() < fleet.invite_share else None
        if inviter is not None and rng.random() >= ORGANIC_DECAY ** self._generation[inviter]:
            inviter = None
        if inviter is not None:
            person = self._new_person(
                tier=self._draw_tier(), generation=self._generation[inviter] + 1
            )
            self._newcomer(
                group,
                person,
                channel="referral",
                via="invite_link",
                inviter=inviter,
                code=self._code(inviter),
            )
            return
        person = self._new_person(tier=FAKE if fake else self._draw_tier(), generation=0)
        channel = self._channel(group)
        via = "live_code" if channel == "live_code" else "qr"
        self._newcomer(group, person, channel=channel, via=via, code=f"{via}-{group.store}")

    # Commerce

    def _items(self) -> int:
        cumulative = self._items_cumulative
        return bisect_right(cumulative, self._rng.random() * cumulative[-1]) + 1

    def _order(self, group: _Group, person: int, items: int) -> None:
        rng = self._rng
        self._known(person, group)
        lines: dict[str, int] = {}
        prices: dict[str, int] = {}
        cumulative = self._catalogue_cumulative
        for _ in range(items):
            product = self._catalogue[bisect_right(cumulative, rng.random() * cumulative[-1])]
            lines[product.sku] = lines.get(product.sku, 0) + 1
            prices[product.sku] = product.price_fen
        picked = sorted(lines.items())
        total = sum(prices[sku] * qty for sku, qty in picked)
        amount, coupon = total, None
        if (
            group.coupon is not None
            and total > group.coupon_value
            and total >= group.coupon_threshold
            and rng.random() < group.coupon_use
        ):
            coupon = self._coupon_of(group, person)
            if coupon is not None:
                amount = total - group.coupon_value
        self._orders += 1
        order = f"o{self._orders}"
        data: dict[str, Any] = {"order": order, "member": self._ext(person), "group": group.id}
        if group.store is not None:
            data["store"] = group.store
        data["staff"] = self._ext(group.owner)
        data["items"] = [
            {"sku": sku, "qty": qty, "unit_price": format_amount(prices[sku])}
            for sku, qty in picked
        ]
        data["amount"] = format_amount(amount)
        if coupon is not None:
            data["coupon"] = coupon
        self._event("order.paid", data, source="shop")
        if rng.random() < self.scenario.commerce.refund_rate:
            # Half the refunds return one item, half the whole order.
            part = prices[picked[0][0]] if rng.random() < 0.5 else -1
            after = rng.expovariate(1 / DAY)
            self._plan(self._clock + after, _Do.REFUND, group.index, min(part, amount), text=order)

    def _coupon_of(self, group: _Group, person: int) -> str | None:
        """The code a buyer pays with: their own from shequn's drop, once; the group's without one."""
        drop = group.coupon_drop
        if drop is None:
            return group.coupon
        if person not in group.coupon_holders:
            return None
        code = coupon_code(self.org, drop.template, self._ext(person), drop.cause)
        if code in self._spent:
            return None
        self._spent.add(code)
        return code

    def _sale(self, index: int) -> None:
        """A sale day begins: every member decides once, and most buy in the evening rush."""
        plan = self.scenario.sales[index]
        day_start = self._clock
        peak = day_start + self._at(1, plan.peak) - self._start
        for group in self._groups:
            if not group.open:
                continue
            group.sale = (peak, day_start + DAY, plan.peak_share)
            group.undecided = {}
            rate = min(1.0, group.buy_rate * group.buy_lift)
            for tier in REAL_TIERS:
                for person in group.members[tier]:
                    draw = self._rng.random()
                    if draw < rate:
                        self._plan_buyer(group, person)
                    else:
                        group.undecided[person] = draw

    def _plan_buyer(self, group: _Group, person: int) -> None:
        if group.sale is None:
            return
        rng = self._rng
        peak, day_end, peak_share = group.sale
        earliest = max(self._clock, day_end - DAY + 7 * 3600)
        if rng.random() < peak_share or earliest >= peak:
            moment = max(peak, self._clock) + rng.expovariate(1 / 2100)
        else:
            moment = earliest + rng.random() * (peak - earliest)
        moment = min(moment, day_end - 1)
        items = self._items()
        commerce = self.scenario.commerce
        if items >= 2 and rng.random() < commerce.second_order_share:
            first = rng.randint(1, items - 1)
            later = min(moment + rng.expovariate(1 / 3600), day_end - 1)
            self._plan(moment, _Do.ORDER, group.index, person, first)
            self._plan(later, _Do.ORDER, group.index, person, items - first)
        else:
            self._plan(moment, _Do.ORDER, group.index, person, items)

    # Fission

    def _fission(self, index: int) -> None:
        phase = self.scenario.fission[index]
        self._phase_until[index] = self._clock + phase.hours * 3600
        for name in phase.sources:
            group = self._groups[self._group_of[name]]
            if not group.open:
                continue
            for members in group.members:
                for person in list(members):
                    self._ask(index, phase, group, person)

    def _ask(self, index: int, phase: FissionPlan, group: _Group, person: int) -> None:
        """Asked to invite friends, a member does so as keenly as the bait and their generation."""
        rng = self._rng
        keenness = phase.bait * group.willingness * phase.decay ** self._generation[person]
        if rng.random() >= keenness:
            return
        fanout = 1
        if phase.fanout > 1:
            fanout += int(math.log(1.0 - rng.random()) / math.log(1.0 - 1.0 / phase.fanout))
        fake = self._tier[person] == FAKE
        shared = self._clock + rng.expovariate(2 / (phase.delay_minutes * 60))
        for _ in range(fanout):
            arrives = shared + rng.expovariate(1 / (phase.delay_minutes * 60))
            is_fake = rng.random() < (FAKE_INVITES_FAKE if fake else phase.fake_share)
            self._plan(arrives, _Do.ARRIVE, index, person, group.index, "fake" if is_fake else "")

    def _route(self, phase: FissionPlan, source: _Group) -> _Group | None:
        """The inviter's group if it takes newcomers, else its paired target, else any with room."""
        if source.id in phase.targets:
            preferred = source.id
        else:
            preferred = phase.targets[phase.sources.index(source.id) % len(phase.targets)]
        for name in (preferred, *phase.targets):
            group = self._groups[self._group_of[name]]
            if group.open and group.count < group.capacity:
                return group
        return None

    def _arrive(self, index: int, inviter: int, source: int, fake: bool) -> None:
        phase = self.scenario.fission[index]
        group = self._route(phase, self._groups[source])
        # A full group turns the friend away (群已满): the invitation is lost.
        if group is None:
            return
        generation = self._generation[inviter] + 1
        person = self._new_person(tier=FAKE if fake else self._draw_tier(), generation=generation)
        self._newcomer(
            group,
            person,
            channel=phase.channel,
            via="invite_link",
            inviter=inviter,
            code=self._code(inviter),
        )
        rng = self._rng
        if fake and rng.random() < self.scenario.fakes.sweep_share:
            for name in phase.targets:
                other = self._groups[self._group_of[name]]
                if other is not group and other.open:
                    self._plan(
                        self._clock + rng.expovariate(1 / 300), _Do.SWEEP, person, other.index
                    )
                    break
        if self._clock < self._phase_until.get(index, -math.inf):
            self._ask(index, phase, group, person)

    # Planned happenings

    def _happen(self, item: _Item) -> None:
        _, _, what, a, b, c, text = item
        if what == _Do.OPEN:
            group = self._groups[a]
            self._open(group)
            if self._staff_posts():
                self._staff_post(group, STAFF_POSTS.index("welcome"))
        elif what == _Do.FISSION:
            self._fission(a)
        elif what == _Do.ARRIVE:
            self._arrive(a, b, c, text == "fake")
        elif what == _Do.SWEEP:
            self._sweep(a, self._groups[b])
        elif what == _Do.LEAVE:
            self._planned_leave(self._groups[a], b, c)
        elif what == _Do.SALE:
            self._sale(a)
        elif what == _Do.ORDER:
            group = self._groups[a]
            # Someone who left the group before paying is a lost sale.
            if b in group.slot:
                self._order(group, b, c)
        elif what == _Do.REFUND:
            data: dict[str, Any] = {"order": text}
            if b >= 0:
                data["amount"] = format_amount(b)
            self._event("order.refunded", data, source="shop")
        elif what == _Do.STAFF_POST:
            self._staff_post(self._groups[a], b)
        elif what == _Do.COUPON:
            self._coupon(a)
        elif what == _Do.KICK:
            self._kick(self._groups[a], b)
        elif what == _Do.REJOIN:
            group = self._groups[a]
            if b not in group.slot and group.count < group.capacity:
                self._join(group, b, via="unknown")
        elif what == _Do.LIFT_ON:
            group = self._groups[a]
            group.lifts += 1
            self._reweigh(group)
        elif what == _Do.LIFT_OFF:
            group = self._groups[a]
            group.lifts = max(0, group.lifts - 1)
            self._reweigh(group)
        elif what == _Do.RENAME:
            group = self._groups[a]
            group.name = text
            data = {"group": group.id, "name": text, "capacity": group.capacity}
            if group.store is not None:
                data["store"] = group.store
            data["owner"] = self._ext(group.owner)
            data["tags"] = list(group.tags)
            self._event("group.upserted", data)

    def _sweep(self, person: int, group: _Group) -> None:
        """An advertiser sweeps into a second group minutes after the first."""
        if person not in group.slot and group.count < group.capacity:
            self._join(group, person, via="unknown")

    def _planned_leave(self, group: _Group, person: int, cause: int) -> None:
        if person not in group.slot:
            return
        engaged = cause == _Leave.EARLY and self._flags[person] & ENGAGED
        if engaged and self._rng.random() < ENGAGED_STAY:
            return
        self._leave(group, person, reason="quit")

    def _staff_posts(self) -> bool:
        evenings = self.scenario.evenings
        return evenings is not None and evenings.staff_posts

    def _staff_post(self, group: _Group, code: int) -> None:
        if not group.open:
            return
        post = STAFF_POSTS[code]
        template = self._staff_texts[post]
        mentions: list[str] | None = None
        if post == "result":
            winner = self._pick_active(group)
            if winner is None:
                return
            mentions = [self._ext(winner)]
            template = template.format(winner=self._nicknames.get(winner, mentions[0]))
        self._post(group, group.owner, "text", template, mentions)
        if post in ("coupon", "sale"):
            self._post(group, group.owner, "mini_program")

    def _coupon(self, index: int) -> None:
        plan = self.scenario.coupons[index]
        for name in plan.groups:
            group = self._groups[self._group_of[name]]
            group.coupon, group.coupon_value, group.coupon_use = (
                plan.code,
                plan.value_fen,
                plan.use_rate,
            )
            if self._staff_posts():
                self._staff_post(group, STAFF_POSTS.index("coupon"))

    def _kick(self, group: _Group, person: int) -> None:
        if person not in group.slot:
            return
        self._leave(group, person, reason="kicked", by=group.owner)
        fakes = self.scenario.fakes
        if self._tier[person] == FAKE and self._rng.random() < fakes.rejoin_share:
            self._plan(
                self._clock + self._rng.expovariate(1 / 7200), _Do.REJOIN, group.index, person
            )

    def _below(self, count: int) -> int:
        """A uniform index below `count`: randrange's work without its cost, on the hot path."""
        index = int(self._rng.random() * count)
        return index if index < count else count - 1

    def _choice(self, pool: Sequence[str]) -> str:
        return pool[self._below(len(pool))]

    # shequn's actions

    def receive(self, request: Request) -> None:
        """Take an action shequn sent; it takes effect at the world's current simulated time."""
        with self._lock:
            self._inbox.append(request)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._inbox:
                    return
                request = self._inbox.popleft()
            effect = "duplicate" if request.id in self._seen else self._apply(request)
            self._seen.add(request.id)
            self.received.append(Received(at=self.now, request=request, effect=effect))

    def _apply(self, request: Request) -> str:
        index = self._group_of.get(request.group or "")
        group = None if index is None else self._groups[index]
        person = self._person_of(request.member)
        rng = self._rng
        if request.kind == "kick_member":
            if group is None or person is None or person not in group.slot:
                return "nobody to kick"
            # The platform answers within seconds; the leave is in the next events.
            self._plan(self._clock + rng.uniform(1, 10), _Do.KICK, group.index, person)
            return "kick"
        if request.kind == "warn_member":
            if person is None:
                return "nobody to warn"
            self._flags[person] |= WARNED
            return "warned"
        if request.kind == "rename_group":
            if group is None or not request.name:
                return "nothing to rename"
            self._plan(self._clock + rng.uniform(1, 5), _Do.RENAME, group.index, text=request.name)
            return "rename"
        if request.kind != "send_message" or group is None:
            return "recorded"
        effects = []
        text = (request.text or "").casefold()
        for member in request.mentions:
            mentioned = self._person_of(member)
            if mentioned is not None and mentioned in group.slot:
                self._flags[mentioned] |= ENGAGED
        if request.mentions:
            effects.append("mentions")
        if any(word in text for word in LOTTERY_WORDS):
            self._lottery(group, request.text or "")
            effects.append("lottery")
        if request.coupon is not None or any(word in text for word in COUPON_WORDS):
            self._shequn_coupon(group, request.coupon)
            effects.append("coupon")
        return "+".join(effects) or "recorded"

    def _lottery(self, group: _Group, text: str) -> None:
        """A draw announced: that evening the group is busier, and people say the keyword."""
        day, _ = self._day_and_time()
        evening = self._start + (day - 1) * DAY + 19 * 3600
        close = evening + 4 * 3600
        if self._clock >= close:
            evening, close = evening + DAY, close + DAY
        self._plan(max(evening, self._clock), _Do.LIFT_ON, group.index)
        self._plan(close, _Do.LIFT_OFF, group.index)
        found = KEYWORD.search(text)
        if found is not None:
            group.keyword, group.keyword_until = found.group(1), close

    def _shequn_coupon(self, group: _Group, drop: Drop | None) -> None:
        """A coupon from shequn: more members buy, on a sale day from now on. Only a drop gives
        its holders codes to pay with; a post that merely mentions a coupon lifts buying."""
        group.buy_lift = self.scenario.commerce.coupon_lift
        if drop is not None:
            group.coupon_drop, group.coupon_holders = drop, frozenset(group.slot)
            group.coupon, group.coupon_value = drop.template, drop.amount_off
            group.coupon_threshold, group.coupon_use = drop.threshold, 0.8
        self._reweigh(group)
        if group.sale is None or self._clock >= group.sale[1]:
            return
        rate = min(1.0, group.buy_rate * group.buy_lift)
        for person, draw in sorted(group.undecided.items()):
            if draw < rate and person in group.slot:
                del group.undecided[person]
                self._plan_buyer(group, person)

    # Looking in (for tests, the demo and reports)

    def group_ids(self) -> list[str]:
        return [group.id for group in self._groups]

    def members_of(self, group: str) -> list[str]:
        """The group's members now, staff included."""
        found = self._groups[self._group_of[group]]
        return sorted(self._ext(person) for person in found.slot)

    def is_fake(self, member: str) -> bool:
        person = self._person_of(member)
        return person is not None and self._tier[person] == FAKE
