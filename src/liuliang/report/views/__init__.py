"""One module per topic; each function takes ``(workspace, ViewSpec)`` and returns a :class:`~liuliang.report.View`."""
