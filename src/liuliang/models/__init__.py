"""Decay and lifetime models: who is still alive, how much they will buy, what they are worth."""

from liuliang.models import datasets
from liuliang.models.bg_nbd import BetaGeoFitter
from liuliang.models.bgbb import BetaGeoBetaBinomFitter
from liuliang.models.bootstrap import BootstrapResult, bootstrap
from liuliang.models.cure import CureFractionFitter
from liuliang.models.curves import RetentionCurveFitter
from liuliang.models.gamma_gamma import GammaGammaFitter
from liuliang.models.mbg_nbd import ModifiedBetaGeoFitter
from liuliang.models.pareto_nbd import ParetoNBDFitter
from liuliang.models.sbg import ShiftedBetaGeometricFitter
from liuliang.models.summaries import ChurnDurations, RFMSummary, churn_durations, rfm_summary
from liuliang.models.survival import SurvivalAnalysis

__all__ = [
    "BetaGeoBetaBinomFitter",
    "BetaGeoFitter",
    "BootstrapResult",
    "ChurnDurations",
    "CureFractionFitter",
    "GammaGammaFitter",
    "ModifiedBetaGeoFitter",
    "ParetoNBDFitter",
    "RFMSummary",
    "RetentionCurveFitter",
    "ShiftedBetaGeometricFitter",
    "SurvivalAnalysis",
    "bootstrap",
    "churn_durations",
    "datasets",
    "rfm_summary",
]
