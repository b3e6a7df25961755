"""Synthetic worlds with planted ground truth, for testing and benchmarking liuliang's estimators."""

from liuliang.simulate.world import WorldConfig, WorldManifest, generate_world

__all__ = ["WorldConfig", "WorldManifest", "generate_world"]
