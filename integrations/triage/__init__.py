"""Email triage port: priorities, context, results, and the offline classifier."""

from integrations.triage.model import (
    Action,
    Amount,
    Classifier,
    Party,
    Priority,
    TriageContext,
    TriageResult,
    result_to_json,
)
from integrations.triage.offline import OfflineClassifier

__all__ = [
    "Action",
    "Amount",
    "Classifier",
    "OfflineClassifier",
    "Party",
    "Priority",
    "TriageContext",
    "TriageResult",
    "result_to_json",
]
