"""The offline classifier meets the product targets on the labelled dev set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from integrations.mime import parse_email
from integrations.triage import OfflineClassifier
from integrations.triage.evaluation import evaluate, load_folder

ROOT = Path(__file__).resolve().parent.parent


def _dev_folder() -> Path:
    folder = Path(os.environ.get("COURRIER_TRIAGE_DEV", ROOT / "tests" / "data" / "triage-dev"))
    if not (folder / "labels.csv").is_file():
        pytest.fail(
            f"triage dev set not found at {folder}: set COURRIER_TRIAGE_DEV to the folder holding labels.csv"
        )
    return folder


def test_dev_set_targets() -> None:
    context, cases = load_folder(_dev_folder())
    assert len(cases) >= 60
    report = evaluate(OfflineClassifier(), context, cases)
    wrong = [
        f"{case.name}: {case.label.value} -> {result.priority.value}" for case, _, result in report.errors
    ]
    assert report.accuracy >= 0.9, wrong
    assert report.recall("critical") == 1.0, wrong
    assert report.spam_as_critical == 0, wrong


def test_every_dev_result_is_well_formed() -> None:
    context, cases = load_folder(_dev_folder())
    classifier = OfflineClassifier()
    for case in cases:
        email = parse_email(case.raw)
        result = classifier.classify(email, context)
        assert 0 < len(result.summary) <= 160 and "\n" not in result.summary, case.name
        assert result.reasons == tuple(dict.fromkeys(result.reasons)), case.name
        if result.deadline is not None:
            assert result.deadline.tzinfo is not None and result.deadline_text, case.name
