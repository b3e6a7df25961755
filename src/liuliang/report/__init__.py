"""Stage 6, what people read: views shared by the self-contained HTML report and the web dashboard."""

from liuliang.report.view import VIEWS, View, ViewSpec, build_view, build_views

__all__ = ["VIEWS", "View", "ViewSpec", "build_view", "build_views"]
