"""Group rules without a database: which messages are offences, and the warn-then-kick table."""

from datetime import UTC, datetime, timedelta

import pytest

from shequn.audit.offences import (
    DisciplinePolicy,
    MessageFacts,
    Offence,
    add_to_tail,
    check_discipline_settings,
    discipline_policy,
    message_offences,
    to_millis,
    warning_text,
)
from shequn.audit.rules import (
    DISCIPLINE,
    Standing,
    Step,
    Strike,
    TransitionRefused,
    Trigger,
    on_offence,
    standing_at,
    transition,
)

POLICY = DisciplinePolicy()
T0 = datetime(2020, 11, 7, 2, 0, tzinfo=UTC)


def offences(kind: str, text: str | None = None, mentions: tuple[str, ...] = ()) -> list[str]:
    facts = MessageFacts(kind=kind, text=text, mentions=mentions)
    return [offence.code for offence in message_offences(facts, policy=POLICY)]


def test_links_in_any_form_are_offences() -> None:
    assert offences("text", "新款看这里 https://shop.example.com/p/1") == ["link"]
    assert offences("text", "www.taobao.com 搜店名") == ["link"]
    # Full-width letters fold to a link a reader would follow.
    assert offences("text", "ｔａｏｂａｏ．ｃｏｍ") == ["link"]
    assert offences("link") == ["link"]


def test_prices_times_and_ordinary_chat_are_not_links() -> None:
    assert offences("text", "这件1.5折太划算了,今晚8:30见") == []
    assert offences("text", "收到啦,谢谢姐妹们") == []


def test_qr_images_mini_program_and_contact_cards_are_offences() -> None:
    assert offences("image", "长按识别二维码进群") == ["qr_image"]
    # A photo of a new dress is not a QR code.
    assert offences("image", "刚到的新裙子") == []
    assert offences("mini_program", "¥9.9 抢购") == ["mini_program"]
    assert offences("card") == ["contact_card"]


def test_the_simulators_and_seeds_adverts_are_ad_keywords() -> None:
    for advert in ("加v了解详情,一件代发", "招代理,月入过万,私聊", "全网最低价货源,需要的私我",
                   "兼职宝妈看过来,一部手机就能做", "厂家直销,免费拿样",
                   "DM me for wholesale prices", "Earn from home, message me"):  # fmt: skip
        assert offences("text", advert) == ["ad_keyword"], advert


def test_evasions_with_spaces_zero_width_and_full_width_are_still_adverts() -> None:
    facts = MessageFacts(kind="text", text="加 \u200bV 了解")
    assert message_offences(facts, policy=POLICY) == (Offence("ad_keyword", "加v"),)
    assert offences("text", "ＷＸ:abc123 拿货") == ["ad_keyword"]


def test_an_org_can_replace_the_ad_words_and_turn_offences_off() -> None:
    policy = discipline_policy({"audit_ad_words": ["团购价"], "audit_offences": ["ad_keyword"]})
    facts = MessageFacts(kind="link", text="团购价 https://x.example.com")
    assert [o.code for o in message_offences(facts, policy=policy)] == ["ad_keyword"]
    # The default words are gone with the replaced list.
    assert message_offences(MessageFacts("text", "招代理"), policy=policy) == ()


def test_five_mentions_in_one_message_are_mass_mentions_four_are_not() -> None:
    assert offences("text", "快来", tuple(f"u{n}" for n in range(5))) == ["mass_mention"]
    assert offences("text", "快来", ("u1", "u2", "u3", "u4", "u4", "u4")) == []


def flood_after(seconds: list[float], policy: DisciplinePolicy = POLICY) -> list[bool]:
    tail: list[int] = []
    found = []
    for second in seconds:
        tail, flooded = add_to_tail(tail, T0 + timedelta(seconds=second), policy=policy)
        found.append(flooded)
    return found


def test_six_messages_in_ten_seconds_are_a_flood_struck_once() -> None:
    assert flood_after([0, 2, 4, 6, 8, 10]) == [False] * 5 + [True]
    # The burst goes on: the tail starts over, so the seventh is not a second flood.
    assert flood_after([0, 2, 4, 6, 8, 10, 11]) == [False] * 5 + [True, False]


def test_five_messages_in_ten_seconds_or_six_spread_over_twelve_are_no_flood() -> None:
    assert flood_after([0, 2, 4, 6, 8]) == [False] * 5
    assert flood_after([0, 2.4, 4.8, 7.2, 9.6, 12]) == [False] * 6


def test_a_late_message_still_completes_a_flood() -> None:
    assert flood_after([0, 2, 4, 8, 10, 6]) == [False] * 5 + [True]


def test_the_tail_keeps_only_what_can_still_make_a_flood() -> None:
    tail: list[int] = []
    for second in range(0, 100, 20):
        tail, _ = add_to_tail(tail, T0 + timedelta(seconds=second), policy=POLICY)
    assert tail == [to_millis(T0 + timedelta(seconds=80))]


def warn(hours: float) -> Strike:
    at = T0 + timedelta(hours=hours)
    return Strike(at, Step.WARN, at + timedelta(days=7))


def test_first_offence_warns_second_within_the_window_kicks() -> None:
    assert on_offence([], at=T0, warnings=1) == (Standing.WARNED, Step.WARN)
    assert on_offence([warn(0)], at=T0 + timedelta(hours=5), warnings=1) == (
        Standing.KICKED, Step.KICK,
    )  # fmt: skip


def test_a_warning_that_expired_does_not_count() -> None:
    later = T0 + timedelta(days=8)
    assert standing_at([warn(0)], at=later) == (Standing.CLEAR, 0)
    assert on_offence([warn(0)], at=later, warnings=1) == (Standing.WARNED, Step.WARN)


def test_two_warnings_allowed_means_warn_warn_kick() -> None:
    strikes = [warn(0)]
    assert on_offence(strikes, at=T0 + timedelta(hours=1), warnings=2)[1] is Step.WARN
    strikes.append(warn(1))
    assert on_offence(strikes, at=T0 + timedelta(hours=2), warnings=2)[1] is Step.KICK


def test_no_warnings_allowed_kicks_at_once_and_a_kicked_member_offending_elsewhere_is_kicked() -> (
    None
):
    assert on_offence([], at=T0, warnings=0) == (Standing.KICKED, Step.KICK)
    kicked = [warn(0), Strike(T0 + timedelta(hours=1), Step.KICK, None)]
    assert on_offence(kicked, at=T0 + timedelta(days=30), warnings=1)[1] is Step.KICK


def test_only_a_kicked_member_can_be_restored() -> None:
    assert transition(Standing.KICKED, Trigger.RESTORE) == (Standing.CLEAR, Step.NOTHING)
    with pytest.raises(TransitionRefused, match="clear cannot take a restore"):
        transition(Standing.CLEAR, Trigger.RESTORE)
    # Every standing answers every offence: no message can leave the table without a step.
    for standing in Standing:
        for trigger in (Trigger.OFFENCE, Trigger.LAST_OFFENCE):
            assert (standing, trigger) in DISCIPLINE


def test_warning_texts_name_the_rule_and_what_comes_next() -> None:
    reason = {"zh": "发链接", "en": "posting a link"}
    assert warning_text("小美", reason, warnings_left=0, lang="zh") == (
        "@小美 请遵守群规,不要发链接。本次为警告,再次违反将被移出群聊。"
    )
    assert warning_text("Amy", reason, warnings_left=0, lang="en") == (
        "@Amy reminder of the group rules: no posting a link. "
        "This is a warning; next time you will be removed from the group."
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"audit_flood_messages": 1}, "audit_flood_messages"),
        ({"audit_flood_seconds": "10"}, "audit_flood_seconds"),
        ({"audit_warnings": True}, "audit_warnings"),
        ({"audit_offences": ["link", "spam"]}, "audit_offences: spam"),
        ({"audit_ad_words": ["ok", ""]}, "audit_ad_words"),
        ({"audit_warn_by": "email"}, "audit_warn_by"),
        ({"audit_delete_offending": "yes"}, "audit_delete_offending"),
        ({"audit_lang": "fr"}, "audit_lang"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(settings: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        check_discipline_settings(settings)
    # Stored by hand anyway, they fall back to the defaults instead of stopping intake.
    assert discipline_policy(settings) == DisciplinePolicy()
