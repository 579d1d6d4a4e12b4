"""Training the org's text model from the operators' decisions (`shequn audit learn`)."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shequn.audit.learning import Example, TextModel, learn_min, train
from shequn.audit.models import AuditCase, AuditModel
from shequn.audit.rules import Decision
from shequn.member.models import Member
from shequn.org.models import Org

# What each standing decision teaches: kick is a fake; keep and whitelist are genuine.
LABELS = {Decision.KICK.value: True, Decision.KEEP.value: False, Decision.WHITELIST.value: False}


def decided_examples(session: Session, org: str) -> list[Example]:
    """Each decided member's current profile, labelled by the decision that stands on it."""
    rows = session.execute(
        select(AuditCase.decision, Member.nickname, Member.signature)
        .join(Member, (Member.org == AuditCase.org) & (Member.id == AuditCase.member))
        .where(AuditCase.org == org, AuditCase.decision.in_(sorted(LABELS)))
        .order_by(AuditCase.member)
    )
    return [
        Example(nickname or "", signature, LABELS[decision])
        for decision, nickname, signature in rows
        if decision is not None
    ]


@dataclass(frozen=True)
class Learned:
    model: TextModel
    min_decisions: int
    trained_at: datetime

    @property
    def is_ready(self) -> bool:
        return self.model.is_ready(min_decisions=self.min_decisions)

    def as_json(self) -> dict[str, object]:
        return {
            "decisions": self.model.examples,
            "fake": self.model.fakes,
            "genuine": self.model.genuines,
            "ngrams": len(self.model.fake.keys() | self.model.genuine.keys()),
            "min_decisions": self.min_decisions,
            "active": self.is_ready,
            "trained_at": self.trained_at.isoformat(),
        }


def learn(session: Session, org: str, *, by: str, now: datetime) -> Learned:
    """Retrain the org's model from every standing decision; it scores once it is ready."""
    found = session.get(Org, org)
    minimum = learn_min(found.settings if found is not None else {})
    model = train(decided_examples(session, org))
    row = session.get(AuditModel, org)
    if row is None:
        row = AuditModel(org=org)
        session.add(row)
    row.trained_at, row.trained_by = now, by
    row.fakes, row.genuine, row.counts = model.fakes, model.genuines, model.as_json()
    session.flush()
    return Learned(model, minimum, now)
