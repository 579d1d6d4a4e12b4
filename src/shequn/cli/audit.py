"""`shequn audit …`: score members for fake accounts, review and decide; keep the group rules
(strikes, restore) and learn from the decisions."""

import getpass
import json
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from shequn.audit.discipline import configure_discipline, restore, strike_json, strikes_of
from shequn.audit.models import AuditCase
from shequn.audit.rules import Language, audit_policy, to_json
from shequn.audit.service import (
    UnknownGroup,
    UnknownMember,
    assessment_of,
    configure_audit,
    count_members,
    decide,
    decisions_of,
    review_queue,
    scan,
)
from shequn.audit.training import learn
from shequn.cli.common import DbOption, JsonOption, console, errors, fail, opened
from shequn.cli.invite import OrgOption
from shequn.kit.time import utc_now
from shequn.member.service import nicknames
from shequn.org.changes import record_config_change
from shequn.org.models import Org
from shequn.org.service import UnknownOrg

audit_app = typer.Typer(
    help="Audit (审核): find marketing, ad and fake accounts; the operator decides.",
    no_args_is_help=True,
)

LangOption = Annotated[str, typer.Option(help="Language of the reasons: zh or en.")]


def _language(lang: str) -> Language:
    if lang not in ("zh", "en"):
        fail(f"--lang: {lang!r} is not one of zh, en")
    return "en" if lang == "en" else "zh"


def _print_cases(
    cases: list[AuditCase], names: dict[str, str], *, language: Language, as_json: bool
) -> None:
    shapes = [to_json(assessment_of(case), case.member, language=language) for case in cases]
    if as_json:
        print(json.dumps(shapes, ensure_ascii=False))
        return
    table = Table("member 成员", "nickname 昵称", "score 分数", "verdict 结论", "signals 信号")
    for case, shape in zip(cases, shapes, strict=True):
        reasons = "; ".join(f"{s['reason']} (+{s['weight']})" for s in shape["signals"])
        table.add_row(
            case.member, names.get(case.member, ""), str(case.score), case.verdict,
            reasons or (f"exempt 豁免: {case.exempt}" if case.exempt else ""),
        )  # fmt: skip
    console.print(table)


@audit_app.command("scan")
def audit_scan(
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[str | None, typer.Option(help="Only members in this group now.")] = None,
    lang: LangOption = "zh",
    as_json: JsonOption = False,
) -> None:
    """Score every member of the org, or of a group, and store the cases (扫描成员)."""
    language = _language(lang)
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        progress = Progress(
            TextColumn("scoring 评分"),
            BarColumn(),
            MofNCompleteColumn(),
            console=errors,
            disable=not errors.is_terminal,
        )
        with progress:
            task = progress.add_task("scan", total=count_members(session, org_id, group=group))
            try:
                cases = scan(
                    context, org_id, group=group, on_progress=lambda n: progress.advance(task, n)
                )
            except UnknownGroup as error:
                fail(str(error))
        context.flush()
        names = {} if as_json else nicknames(session, org_id, [c.member for c in cases])
    _print_cases(cases, names, language=language, as_json=as_json)


@audit_app.command("review")
def audit_review(
    db: DbOption = None,
    org: OrgOption = None,
    lang: LangOption = "zh",
    as_json: JsonOption = False,
) -> None:
    """The review queue (待审核): undecided members the audit doubts, strongest first."""
    language = _language(lang)
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        found = session.get(Org, org_id)
        policy = audit_policy(found.settings if found is not None else {})
        cases = review_queue(session, org_id, policy=policy)
        names = {} if as_json else nicknames(session, org_id, [c.member for c in cases])
    _print_cases(cases, names, language=language, as_json=as_json)


@audit_app.command("decide")
def audit_decide(
    member: Annotated[str, typer.Argument(help="The member decided on.")],
    decision: Annotated[str, typer.Argument(help="kick, keep or whitelist.")],
    by: Annotated[str, typer.Option(help="Who decides (recorded with the time).")],
    db: DbOption = None,
    org: OrgOption = None,
    note: Annotated[str | None, typer.Option(help="Why, for whoever reads the history.")] = None,
) -> None:
    """Decide on a member (审核决定): kick from every group, keep, or whitelist for good."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            decided = decide(context, org_id, member, decision, by=by, note=note)
        except (UnknownMember, ValueError) as error:
            fail(str(error))
        context.flush()
    line = f"{decided.decision.decision} {member} by {decided.decision.decided_by} (已记录)"
    if decided.kicked_from:
        line += f"; kick 踢出: {', '.join(decided.kicked_from)} (shequn outbox)"
    console.print(line, highlight=False)


@audit_app.command("decisions")
def audit_decisions(
    db: DbOption = None,
    org: OrgOption = None,
    member: Annotated[str | None, typer.Option(help="Only this member's decisions.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every decision, oldest first, with who made it and when (审核记录)."""
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        rows = [
            {
                "member": row.member,
                "decision": row.decision,
                "by": row.decided_by,
                "at": row.decided_at.isoformat(),
                "note": row.note,
            }
            for row in decisions_of(session, org_id, member=member)
        ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("at 时间 (UTC)", "member 成员", "decision 决定", "by 操作人", "note 备注")
    for row in rows:
        table.add_row(
            str(row["at"])[:19], str(row["member"]), str(row["decision"]), str(row["by"]),
            str(row["note"] or ""),
        )  # fmt: skip
    console.print(table)


def _ids(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


@audit_app.command("configure")
def audit_configure(
    db: DbOption = None,
    org: OrgOption = None,
    audience: Annotated[
        str | None, typer.Option(help="Who the brand sells to: female, male or any.")
    ] = None,
    review: Annotated[
        int | None, typer.Option(help="Score from which a member is reviewed.")
    ] = None,
    kick: Annotated[int | None, typer.Option(help="Score from which the verdict is kick.")] = None,
    auto_kick: Annotated[
        bool | None,
        typer.Option("--auto-kick/--no-auto-kick", help="Kick on a kick verdict without asking."),
    ] = None,
    whitelist: Annotated[
        str | None, typer.Option(help="Members never scored: u1,u2 (replaces the list).")
    ] = None,
    crew: Annotated[
        str | None, typer.Option(help="Atmosphere crew (氛围组), never scored: c1,c2.")
    ] = None,
) -> None:
    """Set the org's audit settings (审核设置); prints them."""
    given: dict[str, Any] = {
        "audit_audience": audience, "audit_review": review, "audit_kick": kick,
        "audit_auto_kick": auto_kick, "audit_whitelist": _ids(whitelist), "audit_crew": _ids(crew),
    }  # fmt: skip
    changes = {key: value for key, value in given.items() if value is not None}
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        try:
            record_config_change(session, org_id, changes)
            policy = configure_audit(session, org_id, changes=changes, now=utc_now())
        except (UnknownOrg, ValueError) as error:
            fail(str(error))
    shown = {
        "audit_audience": policy.audience, "audit_review": policy.thresholds.review,
        "audit_kick": policy.thresholds.kick, "audit_auto_kick": policy.auto_kick,
        "audit_whitelist": sorted(policy.whitelist), "audit_crew": sorted(policy.crew),
    }  # fmt: skip
    print(json.dumps(shown, ensure_ascii=False))


@audit_app.command("strikes")
def audit_strikes(
    db: DbOption = None,
    org: OrgOption = None,
    member: Annotated[str | None, typer.Option(help="Only this member's strikes.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Offences against the group rules and what each earned, oldest first (违规记录)."""
    now = utc_now()
    with opened(db) as shequn, shequn.sessions() as session:
        org_id = org or shequn.settings.default_org
        rows = [strike_json(row, now=now) for row in strikes_of(session, org_id, member=member)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table(
        "at 时间 (UTC)", "member 成员", "group 群", "step 处理", "offences 违规", "counts 有效"
    )
    for row in rows:
        offences = "; ".join(f"{item['code']}: {item['evidence']}" for item in row["offences"])
        standing = "yes 是" if row["counts"] else f"no 否 ({row['cleared_by'] or 'expired 过期'})"
        table.add_row(
            str(row["at"])[:19], str(row["member"]), str(row["group"]), str(row["step"]),
            offences, standing,
        )  # fmt: skip
    console.print(table)


@audit_app.command("restore")
def audit_restore(
    member: Annotated[str, typer.Argument(help="The kicked member to re-admit.")],
    db: DbOption = None,
    org: OrgOption = None,
    group: Annotated[
        str | None,
        typer.Option(help="Only this group (default: every group they were kicked from)."),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, e.g. the private word had.")] = None,
    by: Annotated[
        str | None, typer.Option(help="Who restores (recorded with the time); default: you.")
    ] = None,
) -> None:
    """Re-admit a kicked member (恢复入群): clears their strikes, records who and when."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        context = shequn.context(session, org_id)
        try:
            restored = restore(
                context, org_id, member, by=by or _operator(), group=group, note=note
            )
        except (UnknownMember, UnknownGroup, ValueError) as error:
            fail(str(error))
        context.flush()
    line = f"restored 已恢复 {member}: {', '.join(restored.groups) or '-'} (shequn outbox)"
    line += f"; strikes cleared 清除违规 {restored.cleared}"
    if restored.lifted_kick_decision:
        line += "; kick decision lifted 撤销踢出决定 (keep)"
    console.print(line, highlight=False)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@audit_app.command("learn")
def audit_learn(
    db: DbOption = None,
    org: OrgOption = None,
    by: Annotated[str | None, typer.Option(help="Who retrains (recorded); default: you.")] = None,
) -> None:
    """Retrain the text model on every decision so far (学习审核决定); prints its figures."""
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        learned = learn(session, org_id, by=by or _operator(), now=utc_now())
    print(json.dumps(learned.as_json(), ensure_ascii=False))


def _words(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


@audit_app.command("settings")
def audit_settings(
    db: DbOption = None,
    org: OrgOption = None,
    offences: Annotated[
        str | None,
        typer.Option(
            help="Offences struck: link,qr_image,mini_program,contact_card,"
            "ad_keyword,flood,mass_mention (replaces the list)."
        ),
    ] = None,
    ad_words: Annotated[
        str | None, typer.Option(help="Advert words, comma-separated (replaces the list).")
    ] = None,
    flood_messages: Annotated[int | None, typer.Option(help="A flood: this many messages…")] = None,
    flood_seconds: Annotated[int | None, typer.Option(help="…within this many seconds.")] = None,
    mass_mentions: Annotated[
        int | None, typer.Option(help="@-mentions in one message that make it an offence.")
    ] = None,
    warnings: Annotated[int | None, typer.Option(help="Warnings before the kick.")] = None,
    warning_hours: Annotated[int | None, typer.Option(help="Hours a warning counts.")] = None,
    warn_by: Annotated[
        str | None, typer.Option(help="group (a warning @-ing them) or direct (a DM).")
    ] = None,
    delete_offending: Annotated[
        bool | None,
        typer.Option("--delete-offending/--keep-offending", help="Delete offending messages."),
    ] = None,
    lang: Annotated[str | None, typer.Option(help="Language of warnings: zh or en.")] = None,
    learn_min: Annotated[
        int | None, typer.Option(help="Decisions the text model needs before it scores.")
    ] = None,
) -> None:
    """Set the group rules (群规) and learning settings; prints them all."""
    given: dict[str, Any] = {
        "audit_offences": _words(offences), "audit_ad_words": _words(ad_words),
        "audit_flood_messages": flood_messages, "audit_flood_seconds": flood_seconds,
        "audit_mass_mentions": mass_mentions, "audit_warnings": warnings,
        "audit_warning_hours": warning_hours, "audit_warn_by": warn_by,
        "audit_delete_offending": delete_offending, "audit_lang": lang,
        "audit_learn_min": learn_min,
    }  # fmt: skip
    changes = {key: value for key, value in given.items() if value is not None}
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        shequn.registry.tenancy.ensure(session, [org_id], utc_now())
        try:
            record_config_change(session, org_id, changes)
            shown = configure_discipline(session, org_id, changes=changes, now=utc_now())
        except (UnknownOrg, ValueError) as error:
            fail(str(error))
    print(json.dumps(shown, ensure_ascii=False))
