"""Warehouse stage: a workspace on any Ibis backend, its tables, time bucketing and the user-day rollups."""

from liuliang.warehouse.workspace import Workspace, WorkspaceInfo, WorkspaceSettings

__all__ = ["Workspace", "WorkspaceInfo", "WorkspaceSettings"]
