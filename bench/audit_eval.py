"""Audit evaluation: how well the profile rules find the fakes of a hand-labelled set.

    .venv/bin/python bench/audit_eval.py                      # the set in bench/data
    .venv/bin/python bench/audit_eval.py --data more.jsonl    # another set of the same shape

Prints precision and recall of verdict kick, and of kick or review, against the label "fake",
the misclassified members and the score distribution. Then the learned signal's effect: the set
is split in two halves, stratified by label (every other profile of each label, by member id);
the text model learns from the training half's labels as if they were operator decisions, and
the test half is scored without and with its signal. The last line is the figures as JSON.
"""

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from shequn.audit.learning import Example, learned_signal, train
from shequn.audit.rules import (
    DEFAULT_THRESHOLDS,
    Assessment,
    AuditContext,
    Gender,
    ProfileFacts,
    Thresholds,
    Verdict,
    score_profile,
)

DATA = Path(__file__).resolve().parent / "data" / "audit_profiles.jsonl"
LABELS = ("fake", "genuine")
GENDERS = ("female", "male", "unknown")
# The set comes from a women's clothing brand's groups (seed 000), with no history of kicks.
CONTEXT = AuditContext(audience="female")
BUCKETS = ((0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 79), (80, 100))


@dataclass(frozen=True)
class Profile:
    member: str
    facts: ProfileFacts
    label: str
    note: str


@dataclass(frozen=True)
class Rate:
    """Precision and recall of one way of flagging, against the label "fake"."""

    flagged: int
    caught: int
    fakes: int

    @property
    def precision(self) -> float:
        return self.caught / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.caught / self.fakes if self.fakes else 0.0


@dataclass(frozen=True)
class Scored:
    profile: Profile
    assessment: Assessment


@dataclass(frozen=True)
class Report:
    scored: tuple[Scored, ...]
    kick: Rate
    kick_or_review: Rate

    def verdicts(self, label: str) -> Counter[str]:
        return Counter(str(s.assessment.verdict) for s in self.scored if s.profile.label == label)

    def where(self, label: str, verdicts: Iterable[Verdict]) -> list[Scored]:
        wanted = set(verdicts)
        return [
            s for s in self.scored if s.profile.label == label and s.assessment.verdict in wanted
        ]

    def distribution(self) -> list[tuple[str, int, int]]:
        """Per score bucket: its name, then how many genuine and how many fake profiles."""
        rows = []
        for low, high in BUCKETS:
            inside = [s for s in self.scored if low <= s.assessment.score <= high]
            genuine = sum(1 for s in inside if s.profile.label == "genuine")
            rows.append((f"{low}-{high}", genuine, len(inside) - genuine))
        return rows


def profile_of(row: dict[str, Any], *, line: int) -> Profile:
    """One line of the set; a malformed one is refused with its line number."""
    for key in ("member", "nickname", "label"):
        if not isinstance(row.get(key), str):
            raise ValueError(f"line {line}: {key!r} must be a string")
    if row["label"] not in LABELS:
        raise ValueError(f"line {line}: label must be one of {', '.join(LABELS)}")
    gender = row.get("gender", "unknown")
    if gender not in GENDERS:
        raise ValueError(f"line {line}: gender must be one of {', '.join(GENDERS)}")
    facts = ProfileFacts(
        nickname=row["nickname"],
        gender=cast(Gender, gender),
        signature=row.get("signature"),
        avatar_flags=frozenset(row.get("avatar_flags", [])),
        album_flags=frozenset(row.get("album_flags", [])),
    )
    return Profile(row["member"], facts, row["label"], str(row.get("note", "")))


def load_profiles(path: Path = DATA) -> list[Profile]:
    profiles: list[Profile] = []
    seen: set[str] = set()
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        profile = profile_of(json.loads(text), line=number)
        if profile.member in seen:
            raise ValueError(f"line {number}: member {profile.member!r} appears twice")
        seen.add(profile.member)
        profiles.append(profile)
    return profiles


def rate(scored: Sequence[Scored], flagged_as: set[Verdict]) -> Rate:
    flagged = [s for s in scored if s.assessment.verdict in flagged_as]
    return Rate(
        flagged=len(flagged),
        caught=sum(1 for s in flagged if s.profile.label == "fake"),
        fakes=sum(1 for s in scored if s.profile.label == "fake"),
    )


def evaluate(
    profiles: Iterable[Profile],
    *,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    context: AuditContext = CONTEXT,
) -> Report:
    scored = tuple(
        Scored(p, score_profile(p.facts, context=context, thresholds=thresholds)) for p in profiles
    )
    return Report(
        scored=scored,
        kick=rate(scored, {Verdict.KICK}),
        kick_or_review=rate(scored, {Verdict.KICK, Verdict.REVIEW}),
    )


def split(profiles: Sequence[Profile]) -> tuple[list[Profile], list[Profile]]:
    """Training and test halves: every other profile of each label, in member order."""
    training: list[Profile] = []
    test: list[Profile] = []
    for label in LABELS:
        ordered = sorted((p for p in profiles if p.label == label), key=lambda p: p.member)
        for index, profile in enumerate(ordered):
            (test if index % 2 else training).append(profile)
    return training, test


@dataclass(frozen=True)
class Learned:
    training: int
    test: int
    signalled: int
    # The model on its own: the share of the test half whose log-likelihood ratio leans to
    # the right label (above zero for fakes).
    alone_accuracy: float
    without: Report
    with_model: Report


def evaluate_learning(
    profiles: Sequence[Profile], *, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Learned:
    """The test half scored without and with the signal of a model trained on the other half."""
    training, test = split(profiles)
    model = train(Example(p.facts.nickname, p.facts.signature, p.label == "fake") for p in training)
    scored = []
    signalled = 0
    right = sum(
        (model.log_ratio(p.facts.nickname, p.facts.signature) > 0) == (p.label == "fake")
        for p in test
    )
    for profile in test:
        signal = learned_signal(model, profile.facts.nickname, profile.facts.signature)
        signalled += signal is not None
        context = replace(CONTEXT, extra_signals=() if signal is None else (signal,))
        assessment = score_profile(profile.facts, context=context, thresholds=thresholds)
        scored.append(Scored(profile, assessment))
    with_model = tuple(scored)
    return Learned(
        training=len(training),
        test=len(test),
        signalled=signalled,
        alone_accuracy=right / len(test) if test else 0.0,
        without=evaluate(test, thresholds=thresholds),
        with_model=Report(
            scored=with_model,
            kick=rate(with_model, {Verdict.KICK}),
            kick_or_review=rate(with_model, {Verdict.KICK, Verdict.REVIEW}),
        ),
    )


def rates_of(report: Report) -> dict[str, dict[str, float]]:
    return {
        "kick": {"precision": report.kick.precision, "recall": report.kick.recall},
        "kick_or_review": {
            "precision": report.kick_or_review.precision,
            "recall": report.kick_or_review.recall,
        },
    }


def print_learning(learned: Learned) -> None:
    print(
        f"learned signal: trained on {learned.training} labelled profiles, tested on"
        f" {learned.test}; the model spoke on {learned.signalled} of them; alone it leans"
        f" the right way on {learned.alone_accuracy:.3f} of the test half"
    )
    for name, report in (("without", learned.without), ("with", learned.with_model)):
        print(
            f"  {name:<8} kick precision {report.kick.precision:.3f} recall"
            f" {report.kick.recall:.3f}  kick|review precision"
            f" {report.kick_or_review.precision:.3f} recall {report.kick_or_review.recall:.3f}"
        )


def describe(scored: Scored) -> str:
    codes = ",".join(signal.code for signal in scored.assessment.signals) or "-"
    profile = scored.profile
    return (
        f"  {profile.member:<6} {profile.facts.nickname!r:<24} score {scored.assessment.score:>3}"
        f"  [{codes}]  {profile.note}"
    )


def print_report(report: Report, *, thresholds: Thresholds, learned: Learned | None = None) -> None:
    fakes = sum(1 for s in report.scored if s.profile.label == "fake")
    print(
        f"profiles {len(report.scored)}: fake {fakes}, genuine {len(report.scored) - fakes}"
        f"  (thresholds review {thresholds.review}, kick {thresholds.kick})"
    )
    for label in LABELS:
        counts = report.verdicts(label)
        print(f"  {label:<8} " + "  ".join(f"{v} {counts[str(v)]}" for v in Verdict))
    for name, figures in (("kick", report.kick), ("kick|review", report.kick_or_review)):
        print(
            f"{name:<12} precision {figures.precision:.3f}  recall {figures.recall:.3f}"
            f"  ({figures.caught} fakes among {figures.flagged} flagged, of {figures.fakes})"
        )
    print(
        "score distribution (genuine/fake): "
        + "  ".join(
            f"{bucket}: {genuine}/{fake}" for bucket, genuine, fake in report.distribution()
        )
    )
    sections = (
        ("genuine kicked", "genuine", (Verdict.KICK,)),
        ("genuine sent to review", "genuine", (Verdict.REVIEW,)),
        ("fake passed", "fake", (Verdict.PASS,)),
        ("fake only reviewed", "fake", (Verdict.REVIEW,)),
    )
    for title, label, verdicts in sections:
        found = report.where(label, verdicts)
        print(f"{title}: {len(found)}")
        for scored in found:
            print(describe(scored))
    summary: dict[str, Any] = {"profiles": len(report.scored), "fakes": fakes, **rates_of(report)}
    if learned is not None:
        print_learning(learned)
        summary["learned"] = {
            "training": learned.training,
            "test": learned.test,
            "alone_accuracy": learned.alone_accuracy,
            "without": rates_of(learned.without),
            "with": rates_of(learned.with_model),
        }
    print(json.dumps(summary))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="a JSON Lines file of profiles")
    args = parser.parse_args(argv)
    try:
        profiles = load_profiles(args.data)
    except (OSError, ValueError) as error:
        print(f"{args.data}: {error}", file=sys.stderr)
        return 2
    print_report(
        evaluate(profiles), thresholds=DEFAULT_THRESHOLDS, learned=evaluate_learning(profiles)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
