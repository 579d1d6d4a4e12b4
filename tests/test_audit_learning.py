"""Learning from the operators' decisions: a text model that becomes one more signal."""

import json
from typing import Any

from typer.testing import CliRunner

from shequn.audit.learning import Example, TextModel, features, learned_signal, train
from shequn.audit.models import AuditCase
from shequn.audit.service import decide
from shequn.cli.audit import audit_app
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()

# What operators of a women's clothing brand kicked and kept (seed 000's signals, in words).
KICKED = [
    ("A01微商货源", "招代理 月入过万"), ("AAA批发女装", "一件代发"), ("A小美代购", "加v看货"),
    ("A00厂家直销", "宝妈兼职 日赚"), ("A88货源总代", "招募代理"), ("AA优选好物", "躺赚副业"),
    ("A莉莉代理", "月入三万 带团队"), ("A02女装批发", "厂家一手货源"), ("A宝宝好物", "加微 代理"),
    ("A03美妆货源", "零成本创业"), ("AA服装批发", "招商加盟"), ("A芳芳微商", "一部手机在家也能做"),
    ("A99代购", "日入过千"), ("AAA货源", "招代理 加v"), ("A04微商", "兼职 月入"),
]  # fmt: skip
KEPT = [
    ("张晓燕", None), ("王芳", "爱生活爱家人"), ("李娜", "开心每一天"), ("陈静", None),
    ("刘洋妈妈", "岁月静好"), ("赵敏", "喜欢旅行"), ("孙丽", None), ("周婷", "做个温柔的人"),
    ("吴倩", "知足常乐"), ("郑雪", None), ("林小姐", "热爱生活"), ("黄蓉", "平安喜乐"),
    ("何佳", None), ("马琳", "简单就好"), ("高洁", "爱笑的女孩"),
]  # fmt: skip


def examples() -> list[Example]:
    return [Example(n, s, True) for n, s in KICKED] + [Example(n, s, False) for n, s in KEPT]


def test_features_are_character_ngrams_of_the_normalised_fields() -> None:
    # Full-width letters and zero-width joiners fold away before counting.
    assert features("Ａ\u200d0", None) == features("a0", None)
    grams = features("a0", "hi")
    assert (grams["n:^a"], grams["n:a0$"], grams["s:hi"]) == (1, 1, 1)
    assert "n:^" not in grams


def test_the_same_decisions_in_any_order_train_the_same_model() -> None:
    assert train(examples()) == train(reversed(examples()))


def test_a_new_look_alike_leans_fake_and_a_plain_name_leans_genuine() -> None:
    model = train(examples())
    fake = learned_signal(model, "A05货源代理", "月入过万")
    genuine = learned_signal(model, "王晓静", "爱生活")
    assert fake is not None
    assert fake.weight == 20
    assert fake.reason_en == "text resembles accounts operators kicked (learned from 30 decisions)"
    assert genuine is not None
    assert genuine.weight < 0
    assert genuine.reason_zh == "文字像运营保留的真实成员(从 30 个审核决定学得)"


def test_text_never_seen_in_training_says_nothing() -> None:
    model = train(examples())
    assert model.contributions("😀", None) == []
    assert learned_signal(model, "😀", None) is None


def test_the_model_scores_only_with_enough_decisions_of_both_kinds() -> None:
    assert train(examples()).is_ready(min_decisions=30)
    assert not train(examples()[:29]).is_ready(min_decisions=30)
    only_kicks = TextModel({"n:a": 1}, {}, fakes=40, genuines=0)
    assert not only_kicks.is_ready(min_decisions=30)


def profile(member: str, nickname: str, signature: str | None) -> dict[str, Any]:
    return event(f"p-{member}", "member.upserted", "2020-11-07T09:00:00",
                 {"member": member, "nickname": nickname, "signature": signature})  # fmt: skip


def joined(member: str) -> dict[str, Any]:
    return event(f"j-{member}", "member.joined", "2020-11-07T09:30:00",
                 {"group": "new-3", "member": member})  # fmt: skip


def learn(shequn: Shequn) -> dict[str, Any]:
    done = runner.invoke(audit_app, ["learn", "--by", "小王", "--org", "demo",
                                     "--db", shequn.settings.database_url])  # fmt: skip
    assert done.exit_code == 0, done.output
    shown: dict[str, Any] = json.loads(done.stdout)
    return shown


def learned_codes(shequn: Shequn, member: str) -> list[tuple[str, int]]:
    with shequn.sessions() as session:
        case = session.get(AuditCase, ("demo", member))
        assert case is not None
        return [(s["code"], s["weight"]) for s in case.signals if s["code"] == "learned_text"]


def test_decisions_train_the_model_on_learn_and_new_members_get_its_signal(
    shequn: Shequn,
) -> None:
    people = [(f"k{n}", *row) for n, row in enumerate(KICKED)]
    people += [(f"g{n}", *row) for n, row in enumerate(KEPT)]
    ingest(shequn, [item for m, n, s in people for item in (profile(m, n, s), joined(m))])
    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        for member, _, _ in people[:-1]:
            decide(context, "demo", member, "kick" if member[0] == "k" else "keep", by="小王")
        context.flush()
    # 29 decisions: below the minimum, the model is stored but does not score.
    assert learn(shequn)["active"] is False
    ingest(shequn, [profile("n1", "A06货源代理", "月入过万"), joined("n1")])
    assert learned_codes(shequn, "n1") == []

    with shequn.sessions.begin() as session:
        context = shequn.context(session, "demo")
        decide(context, "demo", people[-1][0], "whitelist", by="小王")
        context.flush()
    shown = learn(shequn)
    assert {k: shown[k] for k in ("decisions", "fake", "genuine", "min_decisions", "active")} == {
        "decisions": 30, "fake": 15, "genuine": 15, "min_decisions": 30, "active": True,
    }  # fmt: skip
    ingest(shequn, [profile("n2", "A07货源代理", "月入过万"), joined("n2"),
                    profile("n3", "王晓静", "爱生活"), joined("n3")])  # fmt: skip
    assert learned_codes(shequn, "n2") == [("learned_text", 20)]
    assert learned_codes(shequn, "n3")[0][1] < 0


def test_the_minimum_is_an_org_setting(shequn: Shequn) -> None:
    done = runner.invoke(audit_app, ["settings", "--learn-min", "1", "--org", "demo",
                                     "--db", shequn.settings.database_url])  # fmt: skip
    assert done.exit_code == 1
    assert "audit_learn_min: 1 is not a whole number from 2 to 1000000" in done.output
