"""Habits vs visits: early behaviours that go with staying (aha signals), the task-intent habit metric, the ebb
forecast (DAU if incentives stop, continue or change) and the campaign scorecard."""

from liuliang.signals.aha import AhaSignals, AhaSpec, AhaUsers, Behaviour, aha_signals, aha_users, analyze_aha
from liuliang.signals.forecast import BacktestResult, EbbForecast, EbbSpec, backtest, ebb_forecast
from liuliang.signals.habit import TaskHabit, TaskHabitSpec, task_habit
from liuliang.signals.intents import (
    IntentClassifier,
    IntentEvaluation,
    IntentLabels,
    char_ngram_model,
    classify_intents,
    evaluate_intents,
)
from liuliang.signals.scorecard import Scorecard, VerdictRules, scorecard

__all__ = [
    "AhaSignals",
    "AhaSpec",
    "AhaUsers",
    "BacktestResult",
    "Behaviour",
    "EbbForecast",
    "EbbSpec",
    "IntentClassifier",
    "IntentEvaluation",
    "IntentLabels",
    "Scorecard",
    "TaskHabit",
    "TaskHabitSpec",
    "VerdictRules",
    "aha_signals",
    "aha_users",
    "analyze_aha",
    "backtest",
    "char_ngram_model",
    "classify_intents",
    "ebb_forecast",
    "evaluate_intents",
    "scorecard",
    "task_habit",
]
