"""Did the incentive cause it? The statistics of experiments and of non-randomised grants.

Statistics are kept apart from data fetching: the statistical modules are pure functions and estimators on per-arm
sufficient statistics (:mod:`.stats`) or on arrays; the few modules that read a workspace (:mod:`.experiment`,
:mod:`.features`, :mod:`.hunters`, :mod:`.grant_effect`) compute sums and per-user tables in the warehouse and
hand them over.

Statistical modules, one job each: :mod:`.frequentist` (two-proportion z, Welch t, delta-method lift),
:mod:`.cuped` (regression adjustment), :mod:`.bayesian` (chance to win, expected loss), :mod:`.srm`
(sample-ratio mismatch), :mod:`.sequential` (always-valid confidence sequences), :mod:`.multiple` (Holm,
Benjamini–Hochberg), :mod:`.segments` (families of comparisons), :mod:`.balance` and :mod:`.observational`
(IPW / AIPW, always labelled observational).
Uplift and targeting: :mod:`.features` (per-user features and outcome, computed in the warehouse),
:mod:`.meta_learners` (S, T, X, DR, class transformation), :mod:`.evaluation` (uplift and Qini curves, AUUC, Qini
coefficient, uplift@k, calibration) and :mod:`.targeting` (budget-constrained plans).
"""

from liuliang.causal.balance import BalanceResult, standardized_mean_differences
from liuliang.causal.bayesian import BayesianResult, BetaPrior, NormalPrior, beta_binomial_test, normal_test
from liuliang.causal.cuped import CupedResult, cuped_theta, cuped_ttest
from liuliang.causal.evaluation import (
    UpliftEvaluation,
    auuc_score,
    evaluate_uplift,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_calibration,
    uplift_curve,
)
from liuliang.causal.experiment import ExperimentResult, ExperimentSpec, run_experiment
from liuliang.causal.features import (
    FeatureSpec,
    UpliftFeatures,
    active_features,
    experiment_features,
    incentive_features,
)
from liuliang.causal.frequentist import FrequentistResult, two_proportion_ztest, welch_ttest
from liuliang.causal.grant_effect import GrantEffectResult, GrantEffectSpec, run_grant_effect
from liuliang.causal.hunters import HunterScores, HunterSpec, HunterSummary, hunter_scores
from liuliang.causal.meta_learners import ClassTransformationLearner, DRLearner, SLearner, TLearner, XLearner
from liuliang.causal.multiple import AdjustedPValues, adjust_pvalues
from liuliang.causal.observational import OBSERVATIONAL_LABEL, AIPWEstimator, IPWEstimator, ObservationalEffect
from liuliang.causal.segments import FamilyResult, effects_by_metric, effects_by_segment
from liuliang.causal.sequential import SequentialResult, confidence_sequence
from liuliang.causal.srm import SampleRatioMismatchWarning, SRMResult, sample_ratio_test
from liuliang.causal.stats import CovariateStats, SufficientStats
from liuliang.causal.targeting import Offer, PlanLimitError, PlanProvenance, TargetingPlan, plan_targeting

__all__ = [  # noqa: RUF022 - experiment names, then uplift and targeting names
    "GrantEffectResult",
    "GrantEffectSpec",
    "run_grant_effect",
    "ExperimentResult",
    "ExperimentSpec",
    "run_experiment",
    "HunterScores",
    "HunterSpec",
    "HunterSummary",
    "hunter_scores",
    "FeatureSpec",
    "UpliftFeatures",
    "active_features",
    "experiment_features",
    "incentive_features",
    "ClassTransformationLearner",
    "DRLearner",
    "Offer",
    "PlanLimitError",
    "PlanProvenance",
    "SLearner",
    "TLearner",
    "TargetingPlan",
    "UpliftEvaluation",
    "XLearner",
    "auuc_score",
    "evaluate_uplift",
    "plan_targeting",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_calibration",
    "uplift_curve",
    "OBSERVATIONAL_LABEL",
    "AIPWEstimator",
    "AdjustedPValues",
    "BalanceResult",
    "BayesianResult",
    "BetaPrior",
    "CovariateStats",
    "CupedResult",
    "FamilyResult",
    "FrequentistResult",
    "IPWEstimator",
    "NormalPrior",
    "ObservationalEffect",
    "SRMResult",
    "SampleRatioMismatchWarning",
    "SequentialResult",
    "SufficientStats",
    "adjust_pvalues",
    "beta_binomial_test",
    "confidence_sequence",
    "cuped_theta",
    "cuped_ttest",
    "effects_by_metric",
    "effects_by_segment",
    "normal_test",
    "sample_ratio_test",
    "standardized_mean_differences",
    "two_proportion_ztest",
    "welch_ttest",
]
