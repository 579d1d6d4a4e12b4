"""Learning from operators: a naive Bayes text model of kicked and kept profiles (pure).

Multinomial naive Bayes on character 1-3-grams of the normalised nickname and signature, with
add-one smoothing. Its score is the log-likelihood ratio of the profile's text under "fake"
(decided kick) against "genuine" (decided keep or whitelist), class priors left out: the signal
speaks of the text only, whatever share of kicks the operator happened to decide. It becomes one
more signal, weighted and explained like the others, once enough decisions trained it.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shequn.audit.rules import Signal, normalize

NGRAMS = (1, 2, 3)
DEFAULT_MIN_DECISIONS = 30
# Below the medium signals (35): the learned signal tips a doubtful profile, never decides one.
MAX_WEIGHT = 20
# Points of weight per nat of log-likelihood ratio, chosen by 2-fold cross-validation inside
# the benchmark's training half (bench/audit_eval.py); its test half stays unseen.
WEIGHT_PER_NAT = 1.0
# Weaker than this and the signal is noise, so it is left out.
MIN_WEIGHT = 5
LEARNED = "learned_text"


def features(nickname: str, signature: str | None) -> Counter[str]:
    """Character n-grams of each field, with its edges marked: "^A" is a nickname's first A."""
    grams: Counter[str] = Counter()
    for tag, text in (("n", nickname), ("s", signature or "")):
        folded = normalize(text).casefold()
        if not folded:
            continue
        padded = f"^{folded}$"
        for size in NGRAMS:
            for start in range(len(padded) - size + 1):
                gram = padded[start : start + size]
                if gram not in ("^", "$"):
                    grams[f"{tag}:{gram}"] += 1
    return grams


@dataclass(frozen=True)
class Example:
    nickname: str
    signature: str | None
    is_fake: bool


@dataclass(frozen=True)
class TextModel:
    fake: Mapping[str, int]
    genuine: Mapping[str, int]
    fakes: int
    genuines: int

    @property
    def examples(self) -> int:
        return self.fakes + self.genuines

    def is_ready(self, *, min_decisions: int = DEFAULT_MIN_DECISIONS) -> bool:
        """Enough decisions, of both kinds, for its score to mean something."""
        return self.examples >= min_decisions and self.fakes > 0 and self.genuines > 0

    def contributions(self, nickname: str, signature: str | None) -> list[tuple[str, float]]:
        """Each known n-gram of the text and how far it leans to fake (positive) or genuine."""
        vocabulary = len(self.fake.keys() | self.genuine.keys())
        fake_total = sum(self.fake.values()) + vocabulary
        genuine_total = sum(self.genuine.values()) + vocabulary
        found = []
        for gram, count in sorted(features(nickname, signature).items()):
            if gram not in self.fake and gram not in self.genuine:
                # Never seen in training: it says nothing about either class.
                continue
            ratio = math.log((self.fake.get(gram, 0) + 1) / fake_total) - math.log(
                (self.genuine.get(gram, 0) + 1) / genuine_total
            )
            found.append((gram, ratio * count))
        return found

    def log_ratio(self, nickname: str, signature: str | None) -> float:
        return math.fsum(value for _, value in self.contributions(nickname, signature))

    def as_json(self) -> dict[str, Any]:
        return {
            "fake": dict(sorted(self.fake.items())),
            "genuine": dict(sorted(self.genuine.items())),
        }


def train(examples: Iterable[Example]) -> TextModel:
    """Count the n-grams of each class; the same examples give the same model in any order."""
    fake: Counter[str] = Counter()
    genuine: Counter[str] = Counter()
    fakes = genuines = 0
    for example in examples:
        grams = features(example.nickname, example.signature)
        if example.is_fake:
            fake.update(grams)
            fakes += 1
        else:
            genuine.update(grams)
            genuines += 1
    return TextModel(dict(fake), dict(genuine), fakes, genuines)


def model_from_json(counts: Mapping[str, Any], *, fakes: int, genuines: int) -> TextModel:
    return TextModel(
        {str(k): int(v) for k, v in dict(counts.get("fake", {})).items()},
        {str(k): int(v) for k, v in dict(counts.get("genuine", {})).items()},
        fakes,
        genuines,
    )


def _shown(gram: str) -> str:
    return gram.split(":", 1)[1].replace("^", "").replace("$", "")


def learned_signal(
    model: TextModel,
    nickname: str,
    signature: str | None,
    *,
    weight_per_nat: float = WEIGHT_PER_NAT,
    max_weight: int = MAX_WEIGHT,
) -> Signal | None:
    """The model's say on a profile as a signal; None while it leans neither way."""
    contributions = model.contributions(nickname, signature)
    ratio = math.fsum(value for _, value in contributions)
    weight = max(-max_weight, min(max_weight, round(ratio * weight_per_nat)))
    if abs(weight) < MIN_WEIGHT:
        return None
    leaning = sorted(contributions, key=lambda item: (-item[1] if weight > 0 else item[1], item[0]))
    evidence = " ".join(dict.fromkeys(_shown(gram) for gram, _ in leaning[:3] if _shown(gram)))
    decisions = model.examples
    if weight > 0:
        return Signal(
            LEARNED, weight,
            f"文字像运营踢出过的账号(从 {decisions} 个审核决定学得)",
            f"text resembles accounts operators kicked (learned from {decisions} decisions)",
            evidence,
        )  # fmt: skip
    return Signal(
        LEARNED, weight,
        f"文字像运营保留的真实成员(从 {decisions} 个审核决定学得)",
        f"text resembles members operators kept (learned from {decisions} decisions)",
        evidence,
    )  # fmt: skip


def check_learning_settings(settings: Mapping[str, Any]) -> None:
    value = settings.get("audit_learn_min", DEFAULT_MIN_DECISIONS)
    if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 1_000_000:
        raise ValueError(f"audit_learn_min: {value!r} is not a whole number from 2 to 1000000")


def learn_min(settings: Mapping[str, Any]) -> int:
    try:
        check_learning_settings(settings)
    except ValueError:
        return DEFAULT_MIN_DECISIONS
    return int(settings.get("audit_learn_min", DEFAULT_MIN_DECISIONS))
