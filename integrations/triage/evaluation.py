"""Score a classifier on a labelled folder (eml files, labels.csv, context.json)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from integrations.mime import ParsedEmail, parse_email
from integrations.triage.model import Classifier, Priority, TriageContext, TriageResult

__all__ = ["Case", "Report", "evaluate", "load_folder"]

LABELS = tuple(p.value for p in Priority)


@dataclass(frozen=True)
class Case:
    """One labelled message."""

    name: str
    raw: bytes
    label: Priority
    why: str


@dataclass(frozen=True)
class Report:
    """Figures for one run over a folder."""

    total: int
    correct: int
    confusion: dict[tuple[str, str], int]
    errors: tuple[tuple[Case, ParsedEmail, TriageResult], ...]

    @property
    def accuracy(self) -> float:
        """Share of messages given their label."""
        return self.correct / self.total if self.total else 0.0

    def recall(self, label: str) -> float:
        """Share of messages labelled `label` that were found."""
        actual = sum(n for (gold, _), n in self.confusion.items() if gold == label)
        return self.confusion.get((label, label), 0) / actual if actual else 1.0

    def precision(self, label: str) -> float:
        """Share of messages predicted `label` that carry it."""
        predicted = sum(n for (_, guess), n in self.confusion.items() if guess == label)
        return self.confusion.get((label, label), 0) / predicted if predicted else 1.0

    @property
    def spam_as_critical(self) -> int:
        """Spam or phishing called critical: the one mistake that must never happen."""
        return self.confusion.get(("spam", "critical"), 0)


def load_folder(folder: Path) -> tuple[TriageContext, list[Case]]:
    """Read context.json, labels.csv and the messages they name."""
    context = TriageContext.from_json(json.loads((folder / "context.json").read_text(encoding="utf-8")))
    cases: list[Case] = []
    with (folder / "labels.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            path = folder / row["file"]
            cases.append(
                Case(row["file"], path.read_bytes(), Priority(row["priority"].strip()), row.get("why", ""))
            )
    return context, cases


def evaluate(classifier: Classifier, context: TriageContext, cases: list[Case]) -> Report:
    """Classify every case and count agreement with the labels."""
    confusion: Counter[tuple[str, str]] = Counter()
    errors: list[tuple[Case, ParsedEmail, TriageResult]] = []
    for case in cases:
        email = parse_email(case.raw)
        result = classifier.classify(email, context)
        confusion[(case.label.value, result.priority.value)] += 1
        if result.priority is not case.label:
            errors.append((case, email, result))
    correct = sum(n for (gold, guess), n in confusion.items() if gold == guess)
    return Report(len(cases), correct, dict(confusion), tuple(errors))
