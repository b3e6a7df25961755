"""Habits vs visits: early behaviours that go with staying (aha signals) and the task-intent habit metric."""

from liuliang.signals.aha import AhaSignals, AhaSpec, AhaUsers, Behaviour, aha_signals, aha_users, analyze_aha
from liuliang.signals.intents import (
    IntentClassifier,
    IntentEvaluation,
    IntentLabels,
    char_ngram_model,
    classify_intents,
    evaluate_intents,
)

__all__ = [
    "AhaSignals",
    "AhaSpec",
    "AhaUsers",
    "Behaviour",
    "IntentClassifier",
    "IntentEvaluation",
    "IntentLabels",
    "aha_signals",
    "aha_users",
    "analyze_aha",
    "char_ngram_model",
    "classify_intents",
    "evaluate_intents",
]
