"""The audit's profile rules: the seed's signals, their evasions, and what combinations decide."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench.audit_eval import DATA, LABELS, evaluate, load_profiles

from shequn.audit.rules import (
    AuditContext,
    ProfileFacts,
    Signal,
    Thresholds,
    Verdict,
    groups_joined_within,
    normalize,
    ranking_head,
    score_profile,
    to_json,
)

WOMEN = AuditContext(audience="female")


def codes(nickname: str, **facts: Any) -> list[tuple[str, int]]:
    assessment = score_profile(ProfileFacts(nickname, **facts), context=WOMEN)
    return [(signal.code, signal.weight) for signal in assessment.signals]


def score(facts: ProfileFacts, context: AuditContext = WOMEN) -> tuple[int, Verdict]:
    assessment = score_profile(facts, context=context)
    return assessment.score, assessment.verdict


@pytest.mark.parametrize(
    ("given", "seen"),
    [
        ("Ａ小美", "A小美"),
        ("A\u200d小美", "A小美"),
        ("A\u200b\u200c\u200e小美", "A小美"),
        ("Ａ\ufe0f小美", "A小美"),
        ("A\u202e小\u2066美\u2069", "A小美"),
        ("\u3164A\ufeff小美\u00ad", "A小美"),
        ("  小美 \u3000 \t 王  ", "小美 王"),
        ("𝐀𝐁𝐂", "ABC"),
        ("❤️小美", "❤小美"),
    ],
)
def test_normalize_shows_the_text_as_a_reader_sees_it(given: str, seen: str) -> None:
    assert normalize(given) == seen


def test_emoji_and_symbol_padding_in_front_is_not_part_of_the_ranking_head() -> None:
    assert ranking_head("🌸Ａ 小美") == "A 小美"
    assert ranking_head("★☆~A小美") == "A小美"
    assert ranking_head("🅰️小美") == "A小美"
    assert ranking_head("🌸🌸") == ""


@pytest.mark.parametrize("nickname", ["芬芬", "莉莉", "娇娇"])
def test_the_seeds_reduplications_are_a_medium_signal_that_passes_alone(nickname: str) -> None:
    assert codes(nickname) == [("name_reduplication", 35)]
    assert score(ProfileFacts(nickname)) == (35, Verdict.PASS)


@pytest.mark.parametrize("nickname", ["小芳芳", "吴婷婷", "芬芬呀", "天天开心", "哈哈哈", "LiLi"])
def test_pet_names_and_longer_names_are_not_reduplications(nickname: str) -> None:
    assert codes(nickname) == []


def test_a_reduplication_decorated_with_emoji_is_still_one() -> None:
    assert codes("芬芬🌸") == [("name_reduplication", 35)]


@pytest.mark.parametrize("nickname", ["王姐", "丽丽姐", "小姐姐", "Lily姐", "宝宝", "甜心宝宝"])
def test_sister_and_baby_names_are_a_medium_signal(nickname: str) -> None:
    assert codes(nickname) == [("name_sister_or_baby", 35)]


@pytest.mark.parametrize("nickname", ["林小姐", "姐妹花", "朵朵宝宝妈", "果果妈妈"])
def test_miss_sisters_and_parents_named_after_their_baby_are_not_sister_or_baby_names(
    nickname: str,
) -> None:
    assert codes(nickname) == []


@pytest.mark.parametrize("nickname", ["A小美", "AAA", "A.小美", "A 小美", "a小美", "Aaaa", "ANNA"])
def test_an_a_prefix_before_digits_a_s_symbols_or_a_chinese_name_is_the_ranking_trick(
    nickname: str,
) -> None:
    assessment = score_profile(ProfileFacts(nickname), context=WOMEN)
    assert assessment.signals[0].code == "name_starts_with_a"
    assert assessment.signals[0].weight == 45
    assert assessment.verdict is Verdict.REVIEW


@pytest.mark.parametrize("nickname", ["Amy", "Alice", "Anna", "Ada", "Aaron", "amy", "🌸Alina"])
def test_an_english_given_name_starting_with_a_is_only_a_hint(nickname: str) -> None:
    assert codes(nickname) == [("name_starts_with_a", 5)]
    assert score(ProfileFacts(nickname)) == (5, Verdict.PASS)


@pytest.mark.parametrize("nickname", ["阿芳", "安安", "Bella", "1A小美"])
def test_names_that_sort_near_a_without_the_letter_in_front_are_not_flagged(nickname: str) -> None:
    assert "name_starts_with_a" not in {code for code, _ in codes(nickname)}


@pytest.mark.parametrize(
    "nickname",
    [
        "Ａ小美",
        "A\u200d小美",
        "🌸🌸A小美",
        "🌸Ａ 小美",
        "Ａ\ufe0f小美",
        "\u3164A小美",
        "A\u2060小美",
        "🅰️小美",
        "\u0410小美",
    ],
)
def test_full_width_invisible_and_padded_a_prefixes_are_caught(nickname: str) -> None:
    assert codes(nickname) == [("name_starts_with_a", 45)]


@pytest.mark.parametrize("nickname", ["888888", "1314520", "☆☆123☆☆", "~~~~", "小美1314"])
def test_names_of_mostly_digits_and_symbols_go_to_review(nickname: str) -> None:
    assert codes(nickname) == [("name_mostly_digits_symbols", 40)]
    assert score(ProfileFacts(nickname)) == (40, Verdict.REVIEW)


@pytest.mark.parametrize("nickname", ["。", "66", "Lily1988", "❤️❤️❤️", "chenjing88"])
def test_a_lone_dot_two_digits_a_birth_year_or_emoji_are_not_a_digits_name(nickname: str) -> None:
    assert codes(nickname) == []


def test_an_influencer_stock_photo_alone_goes_to_review() -> None:
    facts = ProfileFacts("晓雯", avatar_flags=frozenset({"stock_photo"}))
    assert codes("晓雯", avatar_flags=frozenset({"stock_photo"})) == [("stock_photo_avatar", 40)]
    assert score(facts) == (40, Verdict.REVIEW)


def test_payment_screenshots_alone_go_to_review() -> None:
    facts = ProfileFacts("王丽", album_flags=frozenset({"payment_screenshots"}))
    assert score(facts) == (50, Verdict.REVIEW)


def test_a_man_in_a_womens_clothing_brand_is_a_weak_signal_real_men_buy_gifts() -> None:
    man = ProfileFacts("老张", gender="male", signature="给老婆买件羽绒服")
    assert codes("老张", gender="male") == [("gender_mismatch", 20)]
    assert score(man) == (20, Verdict.PASS)
    assert score(man, AuditContext(audience="any")) == (0, Verdict.PASS)
    assert score(ProfileFacts("小美", gender="female"), AuditContext(audience="male")) == (
        20,
        Verdict.PASS,
    )


def test_a_genuine_profile_with_only_a_slogan_signature_passes() -> None:
    facts = ProfileFacts(
        "晓雯",
        gender="female",
        signature="越努力越幸运",
        avatar_flags=frozenset({"selfie"}),
        album_flags=frozenset({"outfits"}),
    )
    assessment = score_profile(facts, context=WOMEN)
    assert (assessment.score, assessment.verdict) == (20, Verdict.PASS)
    assert [(s.code, s.evidence) for s in assessment.signals] == [("slogan_signature", "努力")]


def test_a_recruiting_signature_weighs_more_but_alone_still_passes() -> None:
    facts = ProfileFacts("小美", signature="宝妈在家也能月入过万")
    assessment = score_profile(facts, context=WOMEN)
    assert (assessment.score, assessment.verdict) == (35, Verdict.PASS)
    assert [(s.code, s.evidence) for s in assessment.signals] == [
        ("slogan_signature", "月入、在家也能")
    ]


def test_a_wechat_id_in_the_signature_is_a_recruiting_signature() -> None:
    assert codes("小美", signature="私聊 V: abc_123") == [("slogan_signature", 35)]


@pytest.mark.parametrize(
    ("nickname", "evidence"),
    [
        ("加V: mm5201314", "v: mm5201314"),
        ("小美(薇:xm888)", "薇:xm888"),
        ("芳芳V信同号", "v信"),
        ("13812345678", "13812345678"),
        ("QQ 123456789", "qq 123456789"),
        ("莉莉+v ll520", "+v"),
    ],
)
def test_a_wechat_id_or_phone_in_the_nickname_is_an_advert(nickname: str, evidence: str) -> None:
    assessment = score_profile(ProfileFacts(nickname), context=WOMEN)
    [contact] = [s for s in assessment.signals if s.code == "contact_in_name"]
    assert (contact.weight, contact.evidence) == (50, evidence)


@pytest.mark.parametrize("nickname", ["小薇", "张薇薇", "Vivian", "Wendy"])
def test_a_bare_wei_or_a_v_in_a_name_is_not_a_contact(nickname: str) -> None:
    assert "contact_in_name" not in {code for code, _ in codes(nickname)}


def test_business_words_in_the_nickname_go_to_review() -> None:
    assessment = score_profile(ProfileFacts("韩版女装批发"), context=WOMEN)
    assert [(s.code, s.weight, s.evidence) for s in assessment.signals] == [
        ("name_business_words", 40, "批发、女装")
    ]
    assert assessment.verdict is Verdict.REVIEW


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ProfileFacts("芬芬", avatar_flags=frozenset({"stock_photo"})), 75),
        (ProfileFacts("王姐", album_flags=frozenset({"payment_screenshots"})), 85),
        (ProfileFacts("A00微商货源"), 85),
        (ProfileFacts("AAA批发"), 85),
        (ProfileFacts("A-01"), 85),
        (ProfileFacts("媛媛", signature="月入过万不是梦"), 70),
        (
            ProfileFacts("小雨", signature="努力", album_flags=frozenset({"payment_screenshots"})),
            70,
        ),
        (ProfileFacts("王丽", gender="male", album_flags=frozenset({"payment_screenshots"})), 70),
        (ProfileFacts("A小美", signature="想要改变命运的宝妈私聊我"), 65),
        (ProfileFacts("莉莉", signature="努力生活"), 55),
    ],
)
def test_combinations_add_up_and_the_strong_ones_kick(facts: ProfileFacts, expected: int) -> None:
    assessment = score_profile(facts, context=WOMEN)
    assert assessment.score == expected
    assert assessment.verdict is (Verdict.KICK if expected >= 70 else Verdict.REVIEW)


def test_every_signal_at_once_caps_the_score_at_100_and_lists_signals_strongest_first() -> None:
    facts = ProfileFacts(
        "娇娇",
        gender="male",
        signature="宝妈在家也能月入过万",
        avatar_flags=frozenset({"stock_photo"}),
        album_flags=frozenset({"payment_screenshots"}),
    )
    assessment = score_profile(facts, context=WOMEN)
    assert (assessment.score, assessment.verdict) == (100, Verdict.KICK)
    assert [(s.code, s.weight) for s in assessment.signals] == [
        ("payment_screenshots", 50),
        ("stock_photo_avatar", 40),
        ("name_reduplication", 35),
        ("slogan_signature", 35),
        ("gender_mismatch", 20),
    ]


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (AuditContext(audience="female", is_staff=True), "staff"),
        (AuditContext(audience="female", is_crew=True), "crew"),
        (AuditContext(audience="female", is_whitelisted=True), "whitelisted"),
    ],
)
def test_staff_crew_and_whitelisted_members_are_never_flagged(
    context: AuditContext, reason: str
) -> None:
    facts = ProfileFacts(
        "A娇娇", gender="male", avatar_flags=frozenset({"stock_photo"}), avatar_url="x.jpg"
    )
    assessment = score_profile(facts, context=context)
    assert (assessment.score, assessment.verdict, assessment.signals) == (0, Verdict.PASS, ())
    assert assessment.exempt_reason == reason


def test_thresholds_are_configurable_and_must_be_ordered() -> None:
    strict = Thresholds(review=30, kick=60)
    fenfen = ProfileFacts("芬芬")
    assert score_profile(fenfen, context=WOMEN, thresholds=strict).verdict is Verdict.REVIEW
    man = score_profile(ProfileFacts("强强", gender="male"), context=WOMEN, thresholds=strict)
    assert (man.score, man.verdict) == (55, Verdict.REVIEW)
    assert (
        score_profile(ProfileFacts("强强", gender="male"), context=WOMEN).verdict is Verdict.REVIEW
    )
    with pytest.raises(ValueError, match="review <= kick"):
        Thresholds(review=80, kick=70)
    with pytest.raises(ValueError, match="review <= kick"):
        Thresholds(review=0, kick=70)
    with pytest.raises(ValueError, match="many_groups"):
        Thresholds(many_groups=1)


def test_sweeping_the_orgs_groups_and_rejoining_after_a_kick_are_medium_signals() -> None:
    facts = ProfileFacts("小美")
    sweep = AuditContext(audience="female", groups_joined_within_window=3)
    assert score(facts, sweep) == (35, Verdict.PASS)
    assert score(facts, AuditContext(groups_joined_within_window=2)) == (0, Verdict.PASS)
    back = AuditContext(groups_joined_within_window=4, rejoined_after_kick=True)
    assessment = score_profile(facts, context=back)
    assert [(s.code, s.evidence) for s in assessment.signals] == [
        ("joined_many_groups_quickly", "4 groups"),
        ("rejoined_after_kick", "rejoined"),
    ]
    assert (assessment.score, assessment.verdict) == (70, Verdict.KICK)
    assert score_profile(facts, context=back, thresholds=Thresholds(many_groups=5)).score == 35


def test_a_profile_like_a_kicked_account_by_name_or_avatar_goes_to_review() -> None:
    kicked = AuditContext(
        kicked_nicknames=frozenset({normalize("A小美")}), kicked_avatar_urls=frozenset({"k.jpg"})
    )
    same_name = score_profile(ProfileFacts("Ａ\u200d小美"), context=kicked)
    assert [(s.code, s.weight) for s in same_name.signals] == [
        ("matches_kicked_account", 50),
        ("name_starts_with_a", 45),
    ]
    same_face = ProfileFacts("晓雯", avatar_url="k.jpg")
    assert score(same_face, kicked) == (50, Verdict.REVIEW)
    blank_kicked = AuditContext(kicked_nicknames=frozenset({""}))
    # An invisible nickname is blank, and blank matches nobody: many real members never set one.
    assert score(ProfileFacts("\u200b", avatar_url="other.jpg"), blank_kicked) == (0, Verdict.PASS)


def test_extra_signals_from_elsewhere_count_and_a_negative_one_speaks_for_the_member() -> None:
    model = Signal("model_fake", 30, "模型判断像营销号", "a model finds it fake", "p=0.91")
    assessment = score_profile(ProfileFacts("芬芬"), context=AuditContext(extra_signals=(model,)))
    assert [s.code for s in assessment.signals] == ["name_reduplication", "model_fake"]
    assert (assessment.score, assessment.verdict) == (65, Verdict.REVIEW)
    vouched = Signal("operator_vouched", -60, "运营担保", "an operator vouched", "u1")
    assert score(ProfileFacts("芬芬"), AuditContext(extra_signals=(vouched,))) == (0, Verdict.PASS)


def test_groups_joined_within_counts_distinct_groups_inside_any_one_window() -> None:
    start = datetime(2020, 11, 7, 20, 0, tzinfo=UTC)
    joins = [
        ("new-3", start),
        ("new-4", start + timedelta(minutes=4)),
        ("new-4", start + timedelta(minutes=5)),
        ("old-1", start + timedelta(minutes=10)),
        ("old-2", start + timedelta(minutes=30)),
    ]
    assert groups_joined_within(joins) == 3
    assert groups_joined_within(joins, window=timedelta(minutes=5)) == 2
    assert groups_joined_within([]) == 0


def test_to_json_is_the_public_shape_with_reasons_in_chinese_or_english() -> None:
    facts = ProfileFacts("A小美", avatar_flags=frozenset({"stock_photo"}))
    assessment = score_profile(facts, context=WOMEN)
    assert to_json(assessment, "u9") == {
        "member": "u9",
        "score": 85,
        "verdict": "kick",
        "signals": [
            {
                "code": "name_starts_with_a",
                "weight": 45,
                "reason": "昵称以A开头(刷排名的营销号手法)",
            },
            {
                "code": "stock_photo_avatar",
                "weight": 40,
                "reason": "头像是网红图(营销号批量购买的头像)",
            },
        ],
    }
    english = to_json(assessment, "u9", language="en")
    assert [s["reason"] for s in english["signals"]] == [
        "nickname starts with A (the ranking trick of marketing accounts)",
        "avatar is an influencer stock photo (bought in bulk for marketing accounts)",
    ]


def test_the_evaluation_set_is_large_labelled_and_keyed_by_member() -> None:
    profiles = load_profiles(DATA)
    assert len(profiles) >= 300
    assert {p.label for p in profiles} == set(LABELS)
    assert len({p.member for p in profiles}) == len(profiles)
    fakes = sum(1 for p in profiles if p.label == "fake")
    assert 0.3 <= fakes / len(profiles) <= 0.5
    assert all(p.note for p in profiles)


def test_the_rules_keep_their_measured_precision_and_recall_on_the_evaluation_set() -> None:
    # Floors sit just under the figures measured when the set was written (kick 0.984 / 0.853,
    # kick|review 0.904 / 0.986): a change that loses ground fails here, not in a group.
    report = evaluate(load_profiles(DATA))
    assert report.kick.precision >= 0.97
    assert report.kick.recall >= 0.83
    assert report.kick_or_review.precision >= 0.89
    assert report.kick_or_review.recall >= 0.97
