"""Scenarios: what a simulated community is made of, the built-in ones, and scenario files.

A scenario file is TOML or JSON with the fields of `Scenario`; `base = "double11"` starts from a
built-in and changes only what the file names (sections field by field, lists as a whole).
"""

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from shequn.kit.time import TimeError, parse_clock, zone

Locale = Literal["zh", "en"]


class ScenarioError(ValueError):
    """A scenario that cannot be run, named by its field."""


@dataclass(frozen=True)
class StaffPlan:
    """An operator or salesperson: owns groups, posts the campaign's messages."""

    id: str
    nickname: str


@dataclass(frozen=True)
class GroupPlan:
    """One group of a hand-written scenario."""

    id: str
    name: str
    owner: str
    capacity: int = 500
    # Members who joined before the scenario starts (its prologue), besides the owner.
    members: int = 0
    # 0: the group exists before the start; N: it opens on day N at `opens_at`.
    opens_day: int = 0
    opens_at: str = "09:00"
    store: str | None = None
    tags: tuple[str, ...] = ()
    # Chatter relative to a lively group of the same size.
    liveliness: float = 1.0
    # How readily its members invite friends, relative to a phase's bait.
    willingness: float = 1.0
    # The share of its members who buy on a sale day.
    buy_rate: float = 0.0
    # Acquisition channels of the members it had before the start.
    channels: tuple[str, ...] = ("store", "moments")


@dataclass(frozen=True)
class FleetPlan:
    """Many generated groups spread over stores, as a brand chain runs them."""

    stores: int
    groups: int
    staff_per_store: int = 3
    median_members: int = 50
    # Sigma of the log-normal spread of group sizes and of liveliness: a few big lively groups.
    member_spread: float = 0.8
    liveliness_spread: float = 0.6
    capacity: int = 500
    # Newcomers per group and day at average liveliness (store QR codes, live codes, friends).
    organic_joins: float = 1.5
    invite_share: float = 0.4
    channels: tuple[str, ...] = ("store_qr", "live_code", "moments", "douban", "kol", "referral")


@dataclass(frozen=True)
class FissionPlan:
    """One fission attempt: members of `sources` are asked to invite friends into `targets`."""

    # A member invites with probability bait × the group's willingness × decay^generation, so
    # each generation is less keen than the one that invited it and the cascade stalls at a
    # ceiling; a stronger bait (the seed's invite counting) fills the groups instead.
    name: str
    day: int
    start: str
    hours: float
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    bait: float
    # Mean friends one inviting member brings.
    fanout: float
    decay: float
    delay_minutes: float = 40.0
    # Invitees who are marketing accounts gaming the invite counts.
    fake_share: float = 0.0
    channel: str = "referral"


@dataclass(frozen=True)
class SalePlan:
    """A paid-conversion day: each member decides once whether to buy."""

    day: int
    peak: str = "20:30"
    # Orders placed in the rush after the peak; the rest come through the day before it.
    peak_share: float = 0.7


@dataclass(frozen=True)
class CouponPlan:
    """A coupon the scenario's own operators drop into groups (the seed's ¥100 no-threshold)."""

    code: str
    value_fen: int
    day: int
    at: str
    groups: tuple[str, ...]
    use_rate: float = 0.8


@dataclass(frozen=True)
class Product:
    sku: str
    price_fen: int
    weight: float = 1.0


@dataclass(frozen=True)
class Commerce:
    """What is sold, and how people buy."""

    catalogue: tuple[Product, ...] = (
        Product("dress-01", 59900),
        Product("coat-02", 129900),
        Product("knit-03", 45900),
    )
    # Weights of a buyer taking 1, 2, 3 … items in all.
    items_per_buyer: tuple[float, ...] = (0.5, 0.3, 0.2)
    second_order_share: float = 0.2
    refund_rate: float = 0.02
    # The share of members who buy on an ordinary day (shops that sell every day).
    daily_buy_rate: float = 0.0
    # How much a coupon shequn drops into a group raises buying there.
    coupon_lift: float = 1.3


@dataclass(frozen=True)
class Evenings:
    """The campaign habit: something happens at the same hour every evening."""

    at: str = "20:30"
    days: tuple[int, ...] = ()
    # Chatter multiplier during the event.
    lift: float = 3.0
    minutes: int = 60
    # From this hour members repeat the slogan ("今晚8:30,群内抽奖") so nobody misses the draw.
    slogan_from: str = "15:00"
    slogan_share: float = 0.2
    # Whether the scenario's own operators post the teasers, draws and coupons; off when
    # shequn runs the campaign against the simulator.
    staff_posts: bool = True


@dataclass(frozen=True)
class Activity:
    """Chatter, reactions and sign-ins."""

    # Messages a day in a lively group of 500 members (liveliness 1), sign-ins not counted.
    messages_per_day: float = 200.0
    reactions_per_message: float = 0.35
    # The share of members who sign in (签到) on a day, of those who ever take part.
    sign_in_share: float = 0.08
    # Talkers, regulars, lurkers and the silent: their shares of members, and how much each of
    # the first three talks (the silent never do: most of a group's members never say a word).
    tier_shares: tuple[float, float, float, float] = (0.06, 0.28, 0.40, 0.26)
    tier_weights: tuple[int, int, int] = (40, 6, 1)
    # Chatter multiplier per scenario day (a campaign warms up); missing days count as 1.
    day_factors: tuple[float, ...] = ()
    # Evening chatter multiplier after shequn announces a draw in a group.
    lottery_lift: float = 2.5
    # Messages in an hour that make a flood, and the share of members it drives out.
    flood_per_hour: int = 90
    flood_leave: float = 0.01


@dataclass(frozen=True)
class Leaving:
    # Newcomers who leave within their first days, and the mean days until they do.
    newcomer_share: float = 0.15
    newcomer_days: float = 1.0
    # Settled members who leave on an ordinary day.
    daily_share: float = 0.003


@dataclass(frozen=True)
class Fakes:
    """Marketing and fake accounts, showing the audit's signals."""

    # The share of newcomers outside fission attempts (fission has its own fake_share).
    share: float = 0.02
    ads_per_day: float = 1.0
    # Kicked accounts that come back, and those that sweep into a second group.
    rejoin_share: float = 0.1
    sweep_share: float = 0.3


@dataclass(frozen=True)
class Population:
    locale: Locale = "zh"
    female_share: float = 0.9
    male_share: float = 0.06
    english_share: float = 0.15
    motivational_share: float = 0.03


@dataclass(frozen=True)
class Scenario:
    """A community and what happens to it, day by day from `start` (a local date)."""

    name: str
    org: str
    start: str
    days: int
    timezone: str = "Asia/Shanghai"
    source: str = "simulator"
    # Days before the start over which the groups' first members joined.
    prologue_days: int = 120
    # Whether those members' profiles come with their joins, or when each first speaks.
    prologue_profiles: bool = True
    staff: tuple[StaffPlan, ...] = ()
    groups: tuple[GroupPlan, ...] = ()
    fleet: FleetPlan | None = None
    fission: tuple[FissionPlan, ...] = ()
    sales: tuple[SalePlan, ...] = ()
    coupons: tuple[CouponPlan, ...] = ()
    evenings: Evenings | None = None
    activity: Activity = field(default_factory=Activity)
    leaving: Leaving = field(default_factory=Leaving)
    fakes: Fakes = field(default_factory=Fakes)
    population: Population = field(default_factory=Population)
    commerce: Commerce = field(default_factory=Commerce)


def double11() -> Scenario:
    """The seed's women's-clothing Double-11 campaign: 4 groups, 5 days, 20:30 every evening."""
    old = ("store", "taobao", "moments")
    groups = (
        # Old group 1 is the older, keener one: it brought more newcomers in the poster attempt.
        GroupPlan("old-1", "老一群·美美的衣橱", "op-1", members=496, store="flagship",
                  willingness=1.2, buy_rate=0.45, channels=old, tags=("old", "fans")),
        GroupPlan("old-2", "老二群·美美的衣橱", "op-2", members=496, store="flagship",
                  willingness=0.8, buy_rate=0.45, channels=old, tags=("old", "fans")),
        GroupPlan("new-3", "新三群·6个月一起变美", "op-1", opens_day=1, opens_at="09:30",
                  store="flagship", buy_rate=0.30, tags=("new", "fission")),
        GroupPlan("new-4", "新四群·6个月一起变美", "op-2", opens_day=1, opens_at="09:30",
                  store="flagship", buy_rate=0.30, tags=("new", "fission")),
    )  # fmt: skip
    fission = (
        # The poster with a stepwise bait: < 300 newcomers from ~1,000 members, then a stall.
        FissionPlan("poster", day=1, start="10:00", hours=4, sources=("old-1", "old-2"),
                    targets=("new-3", "new-4"), bait=0.17, fanout=1.7, decay=0.45,
                    fake_share=0.02, channel="poster"),
        # Counted, net invites and @-mentions: both new groups full within hours.
        FissionPlan("invite-count", day=1, start="14:00", hours=10,
                    sources=("old-1", "old-2", "new-3", "new-4"), targets=("new-3", "new-4"),
                    bait=0.35, fanout=2.0, decay=0.7, delay_minutes=60, fake_share=0.06),
    )  # fmt: skip
    catalogue = (
        Product("dress-silk", 89900, 3.0), Product("coat-wool", 129900, 1.5),
        Product("knit-cashmere", 69900, 2.0), Product("shirt-linen", 39900, 2.0),
        Product("skirt-pleated", 45900, 2.0), Product("trousers-wide", 42900, 2.0),
        Product("tee-cotton", 19900, 1.5), Product("scarf-silk", 25900, 1.0),
    )  # fmt: skip
    return Scenario(
        name="double11",
        org="demo",
        start="2020-11-07",
        days=5,
        prologue_days=150,
        staff=(StaffPlan("op-1", "店长-小雅"), StaffPlan("op-2", "客服-小静")),
        groups=groups,
        fission=fission,
        sales=(SalePlan(day=5, peak="20:30", peak_share=0.7),),
        coupons=(
            CouponPlan("no-threshold-100", 10000, day=2, at="20:00", groups=("new-3", "new-4")),
        ),
        evenings=Evenings(at="20:30", days=(1, 2, 3, 4, 5), lift=3.0, slogan_share=0.25),
        activity=Activity(messages_per_day=160.0, day_factors=(1.0, 1.0, 1.1, 1.2, 1.5)),
        leaving=Leaving(newcomer_share=0.12, newcomer_days=1.0, daily_share=0.003),
        fakes=Fakes(share=0.005, ads_per_day=1.0),
        population=Population(female_share=0.92, male_share=0.05, english_share=0.12),
        commerce=Commerce(
            catalogue=catalogue,
            items_per_buyer=(0.25, 0.30, 0.22, 0.13, 0.10),
            second_order_share=0.25,
            refund_rate=0.02,
        ),
    )


def brand_10k() -> Scenario:
    """A skincare chain: 10,000 store groups over 300 stores, one ordinary day of traffic."""
    catalogue = (
        Product("serum-30ml", 29900, 2.0), Product("cream-50g", 39900, 1.5),
        Product("mask-5pc", 9900, 3.0), Product("cleanser-120ml", 12900, 2.0),
        Product("lipstick-07", 18900, 2.0), Product("toner-200ml", 15900, 1.5),
    )  # fmt: skip
    return Scenario(
        name="brand-10k",
        org="brand",
        start="2026-11-02",
        days=1,
        prologue_days=90,
        # A brand's history arrives as joins; each profile comes when its member first speaks.
        prologue_profiles=False,
        fleet=FleetPlan(stores=300, groups=10_000, median_members=42, organic_joins=1.5),
        activity=Activity(messages_per_day=650.0, reactions_per_message=0.3, sign_in_share=0.2),
        leaving=Leaving(newcomer_share=0.12, newcomer_days=2.0, daily_share=0.002),
        fakes=Fakes(share=0.03, ads_per_day=0.5),
        population=Population(female_share=0.7, male_share=0.25, english_share=0.1),
        commerce=Commerce(
            catalogue=catalogue,
            items_per_buyer=(0.55, 0.25, 0.12, 0.05, 0.03),
            second_order_share=0.0,
            refund_rate=0.01,
            daily_buy_rate=0.004,
        ),
    )


BUILTINS = {"double11": double11, "brand-10k": brand_10k}


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a .toml / .json scenario file."""
    if name_or_path in BUILTINS:
        return BUILTINS[name_or_path]()
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(
            f"--scenario: {name_or_path!r} is neither a built-in scenario "
            f"({', '.join(sorted(BUILTINS))}) nor a .toml or .json file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError(f"cannot read {path}: {error}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ScenarioError(f"{path}: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a table of fields, not {type(data).__name__}")
    return scenario_from_mapping(data)


def scenario_from_mapping(data: Mapping[str, Any]) -> Scenario:
    """A scenario from parsed TOML or JSON; `base` names a built-in to start from."""
    fields = dict(data)
    base_name = fields.pop("base", None)
    if base_name is None:
        scenario = _build(Scenario, fields, "")
    else:
        if base_name not in BUILTINS:
            raise ScenarioError(f"base: {base_name!r} is not one of {', '.join(sorted(BUILTINS))}")
        scenario = _merge(BUILTINS[base_name](), fields, "")
    if not isinstance(scenario, Scenario):
        raise ScenarioError("a scenario file must describe one scenario")
    check(scenario)
    return scenario


def _merge(current: Any, changes: Mapping[str, Any], path: str) -> Any:
    hints = typing.get_type_hints(type(current))
    names = {item.name for item in dataclasses.fields(current)}
    updates: dict[str, Any] = {}
    for name, value in changes.items():
        where = f"{path}{name}"
        if name not in names:
            raise ScenarioError(f"{where}: unknown field (known: {', '.join(sorted(names))})")
        existing = getattr(current, name)
        if dataclasses.is_dataclass(existing) and isinstance(value, Mapping):
            updates[name] = _merge(existing, value, f"{where}.")
        else:
            updates[name] = _convert(hints[name], value, where)
    return dataclasses.replace(current, **updates)


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{path or 'scenario'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {item.name: item for item in dataclasses.fields(cls)}
    for name in data:
        if name not in known:
            raise ScenarioError(f"{path}{name}: unknown field (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for name, item in known.items():
        if name in data:
            values[name] = _convert(hints[name], data[name], f"{path}{name}")
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise ScenarioError(f"{path}{name}: required")
    return cls(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        return _convert(options[0], value, path)
    if origin is Literal:
        if value not in args:
            raise ScenarioError(f"{path}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{path}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], item, f"{path}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ScenarioError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(
            _convert(arg, item, f"{path}[{i}]")
            for i, (arg, item) in enumerate(zip(args, value, strict=True))
        )
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{path}.")
    if hint is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{path}: expected a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{path}: expected text, got {value!r}")
        return value
    raise ScenarioError(f"{path}: cannot read a value of type {hint}")


def _share(path: str, value: float) -> None:
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ScenarioError(f"{path}: {value} is not a share between 0 and 1")


def _clock(path: str, text: str) -> None:
    try:
        parse_clock(text)
    except TimeError as error:
        raise ScenarioError(f"{path}: {error}") from None


def check(scenario: Scenario) -> None:
    """Refuse, by field, what the world could not run."""
    # Days past the scenario's last are allowed: a file that shortens a campaign leaves its
    # later plans unplayed rather than refused.
    try:
        date.fromisoformat(scenario.start)
    except ValueError:
        raise ScenarioError(f"start: {scenario.start!r} is not a date like 2020-11-07") from None
    try:
        zone(scenario.timezone)
    except TimeError as error:
        raise ScenarioError(f"timezone: {error}") from None
    if not 1 <= scenario.days <= 366:
        raise ScenarioError(f"days: {scenario.days} is not between 1 and 366")
    if scenario.prologue_days < 1:
        raise ScenarioError(f"prologue_days: {scenario.prologue_days} must be at least 1")
    ids = [group.id for group in scenario.groups]
    if len(set(ids)) != len(ids):
        raise ScenarioError("groups: two groups share an id")
    if not ids and scenario.fleet is None:
        raise ScenarioError("groups: a scenario needs groups or a fleet")
    for index, group in enumerate(scenario.groups):
        where = f"groups[{index}]"
        if not 0 < group.capacity <= 1_000_000:
            raise ScenarioError(f"{where}.capacity: {group.capacity} is out of range")
        if not 0 <= group.members < group.capacity:
            raise ScenarioError(f"{where}.members: {group.members} must leave room for the owner")
        if group.opens_day < 0:
            raise ScenarioError(f"{where}.opens_day: {group.opens_day} cannot be negative")
        if group.opens_day > 0 and group.members:
            raise ScenarioError(f"{where}.members: only groups open before the start have members")
        _clock(f"{where}.opens_at", group.opens_at)
        _share(f"{where}.buy_rate", group.buy_rate)
        if group.liveliness < 0 or group.willingness < 0:
            raise ScenarioError(f"{where}: liveliness and willingness cannot be negative")
        if not group.channels:
            raise ScenarioError(f"{where}.channels: name at least one")
    fleet = scenario.fleet
    if fleet is not None:
        if fleet.stores < 1 or fleet.groups < fleet.stores or fleet.staff_per_store < 1:
            raise ScenarioError("fleet: needs stores >= 1, groups >= stores, staff_per_store >= 1")
        if not 1 <= fleet.median_members < fleet.capacity:
            raise ScenarioError("fleet.median_members: must be below capacity")
        _share("fleet.invite_share", fleet.invite_share)
        if not fleet.channels:
            raise ScenarioError("fleet.channels: name at least one")
    for index, phase in enumerate(scenario.fission):
        where = f"fission[{index}]"
        for name in (*phase.sources, *phase.targets):
            if name not in ids:
                raise ScenarioError(f"{where}: no group {name!r}")
        if not phase.sources or not phase.targets:
            raise ScenarioError(f"{where}: needs sources and targets")
        if phase.day < 1:
            raise ScenarioError(f"{where}.day: {phase.day} is not a scenario day")
        _clock(f"{where}.start", phase.start)
        _share(f"{where}.bait", phase.bait)
        _share(f"{where}.decay", phase.decay)
        _share(f"{where}.fake_share", phase.fake_share)
        if phase.fanout < 1 or phase.hours <= 0 or phase.delay_minutes <= 0:
            raise ScenarioError(f"{where}: needs fanout >= 1, hours > 0 and delay_minutes > 0")
    for index, sale in enumerate(scenario.sales):
        if sale.day < 1:
            raise ScenarioError(f"sales[{index}].day: {sale.day} is not a scenario day")
        _clock(f"sales[{index}].peak", sale.peak)
        _share(f"sales[{index}].peak_share", sale.peak_share)
    for index, coupon in enumerate(scenario.coupons):
        where = f"coupons[{index}]"
        _clock(f"{where}.at", coupon.at)
        if coupon.day < 1:
            raise ScenarioError(f"{where}.day: {coupon.day} is not a scenario day")
        _share(f"{where}.use_rate", coupon.use_rate)
        if coupon.value_fen < 0:
            raise ScenarioError(f"{where}.value_fen: cannot be negative")
        for name in coupon.groups:
            if name not in ids:
                raise ScenarioError(f"{where}: no group {name!r}")
    if scenario.evenings is not None:
        _clock("evenings.at", scenario.evenings.at)
        _clock("evenings.slogan_from", scenario.evenings.slogan_from)
        _share("evenings.slogan_share", scenario.evenings.slogan_share)
    activity = scenario.activity
    if sum(activity.tier_shares) <= 0 or min(activity.tier_shares) < 0:
        raise ScenarioError("activity.tier_shares: need non-negative shares, not all 0")
    if min(activity.tier_weights) < 0:
        raise ScenarioError("activity.tier_weights: cannot be negative")
    if activity.messages_per_day < 0 or activity.reactions_per_message < 0:
        raise ScenarioError("activity: rates cannot be negative")
    _share("activity.sign_in_share", activity.sign_in_share)
    _share("activity.flood_leave", activity.flood_leave)
    _share("leaving.newcomer_share", scenario.leaving.newcomer_share)
    _share("leaving.daily_share", scenario.leaving.daily_share)
    _share("fakes.share", scenario.fakes.share)
    _share("fakes.rejoin_share", scenario.fakes.rejoin_share)
    _share("fakes.sweep_share", scenario.fakes.sweep_share)
    population = scenario.population
    if population.female_share + population.male_share > 1:
        raise ScenarioError("population: female_share + male_share is more than 1")
    commerce = scenario.commerce
    if not commerce.catalogue or min(p.price_fen for p in commerce.catalogue) <= 0:
        raise ScenarioError("commerce.catalogue: needs products with positive prices (in fen)")
    if not commerce.items_per_buyer or sum(commerce.items_per_buyer) <= 0:
        raise ScenarioError("commerce.items_per_buyer: needs weights, not all 0")
    _share("commerce.daily_buy_rate", commerce.daily_buy_rate)
    _share("commerce.refund_rate", commerce.refund_rate)
    _share("commerce.second_order_share", commerce.second_order_share)


def with_days(scenario: Scenario, days: int) -> Scenario:
    """The scenario cut (or stretched) to `days`; what falls after the last day never happens."""
    if days < 1:
        raise ScenarioError(f"--days: {days} must be at least 1")
    return dataclasses.replace(scenario, days=days)


def scaled(scenario: Scenario, scale: float) -> Scenario:
    """A fleet scenario with `scale` times the stores and groups (brand-10k at 0.01: 100 groups)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ScenarioError(f"--scale: {scale} must be a positive number")
    fleet = scenario.fleet
    if fleet is None:
        raise ScenarioError(f"--scale: scenario {scenario.name!r} has no fleet of groups to scale")
    groups = max(1, round(fleet.groups * scale))
    stores = min(groups, max(1, round(fleet.stores * scale)))
    return dataclasses.replace(
        scenario, fleet=dataclasses.replace(fleet, groups=groups, stores=stores)
    )
