"""The dashboard page's own words in English and Chinese (the views bring their titles and readings themselves).

Kept in Python and handed to the page as JSON, so the server-rendered page and the script that relabels it on a
language switch read the same strings.
"""

from __future__ import annotations

#: Navigation labels for the views, shown until a view's own (computed) title arrives.
VIEW_LABELS: dict[str, tuple[str, str]] = {
    "retention": ("Retention by cohort", "分群留存"),
    "retention_curves": ("Retention curves", "留存曲线"),
    "stickiness": ("Stickiness", "粘性"),
    "frequency": ("Days active per user", "活跃天数分布"),
    "lifecycle": ("Lifecycle", "用户生命周期"),
    "revenue": ("Revenue retention", "收入留存"),
    "decay": ("Decay and projection", "衰减与预测"),
    "habit": ("Task-request habit", "任务请求习惯"),
    "aha": ("Aha signals", "啊哈信号"),
    "experiment": ("Experiment", "实验"),
    "uplift": ("Uplift", "增益"),
    "scorecard": ("Campaign scorecard", "活动记分卡"),
}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "heading": "liuliang — did the subsidy buy habits?",
        "start": "From",
        "end": "To",
        "breakdown": "Split by",
        "period": "Period",
        "criterion": "Retained",
        "preset": "Preset",
        "lang": "Language",
        "none": "none",
        "liuliang": "liuliang",
        "day": "day",
        "week": "week",
        "on": "on day N",
        "on_or_after": "on or after day N",
        "loading": "Loading…",
        "failed": "Could not load this view",
        "data": "Data",
        "version": "ingest",
        "rows_shown": "first {n} of {total} rows",
    },
    "zh": {
        "heading": "留量 — 补贴买来的是习惯，还是一次访问？",
        "start": "开始",
        "end": "结束",
        "breakdown": "拆分维度",
        "period": "周期",
        "criterion": "留存口径",
        "preset": "预设",
        "lang": "语言",
        "none": "不拆分",
        "liuliang": "留量默认",
        "day": "日",
        "week": "周",
        "on": "第 N 天活跃",
        "on_or_after": "第 N 天及以后活跃",
        "loading": "加载中…",
        "failed": "该视图加载失败",
        "data": "数据",
        "version": "导入批次",
        "rows_shown": "显示前 {n} 行，共 {total} 行",
    },
}


def view_label(key: str, lang: str = "en") -> str:
    en, zh = VIEW_LABELS.get(key, (key.replace("_", " "), key.replace("_", " ")))
    return zh if lang == "zh" else en
