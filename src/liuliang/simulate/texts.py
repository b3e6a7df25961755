"""What users type to the assistant: the ``text`` of ``ask`` events, with a known label.

Why a labelled pool: the habit metric the product teams watch is "how many times users said '<assistant>,
help me…'" rather than DAU (see ``shared/domain.md``). A classifier for that signal can only be tested on
texts whose true label is known, so every string here is built from a template that is either a *task*
request (the assistant does something in the world: order food, book a ticket, call a car) or *chat*
(weather, jokes, greetings). Strings come in simplified Chinese, traditional Chinese and English because
real logs mix all three, and a classifier keyed to one script should fail visibly.

Pools are built combinatorially (prefix × request) so there are hundreds of distinct strings, and sampling
is vectorised: indices are drawn with NumPy and taken from one Arrow array, never a Python loop per event.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from itertools import product

import numpy as np
import pyarrow as pa

SCRIPTS = ("zh-Hans", "zh-Hant", "en")
LABELS = ("task", "chat")

# --- simplified Chinese -------------------------------------------------------------------------------
_HANS_TASK_PREFIX = ("帮我", "请帮我", "麻烦帮我", "小助手，帮我", "你帮我", "快帮我")
_HANS_TASK_VERB_OBJECTS: dict[str, tuple[str, ...]] = {
    "点": ("外卖", "一份外卖", "一杯咖啡", "一杯奶茶", "一份麻辣烫", "两份炸鸡", "一个披萨", "一份饺子", "早餐"),
    "订": (
        "一张去郑州的火车票",
        "一张去北京的高铁票",
        "一张回老家的火车票",
        "一张去上海的机票",
        "今晚两个人的位子",
        "明天中午的包间",
        "两张电影票",
        "一间酒店",
        "年夜饭的桌子",
    ),
    "叫": ("车", "一辆车去机场", "一辆车去火车站", "个跑腿"),
    "买": ("年货", "一箱水果", "明天的菜", "一束花", "两斤猪肉"),
    "预约": ("明天的理发", "周六的体检", "家政保洁"),
    "查": ("我的快递到哪了", "明天去武汉的车次", "附近的药店"),
}

_HANS_CHAT_PREFIX = ("", "你好，", "嗨，", "小助手，", "喂，")
_HANS_CHAT = (
    "今天天气怎么样",
    "明天会下雨吗",
    "讲个笑话",
    "给我讲个故事",
    "你叫什么名字",
    "你是谁",
    "春节有什么习俗",
    "新年快乐",
    "写一句拜年的话",
    "推荐一部电影",
    "陪我聊聊天",
    "人生的意义是什么",
    "猫为什么喜欢纸箱",
    "今年是什么年",
    "你会唱歌吗",
    "给我一句鼓励的话",
)

# --- traditional Chinese ------------------------------------------------------------------------------
_HANT_TASK_PREFIX = ("幫我", "請幫我", "麻煩幫我", "你幫我")
_HANT_TASK_VERB_OBJECTS: dict[str, tuple[str, ...]] = {
    "點": ("外賣", "一杯咖啡", "一杯奶茶", "一份炸雞", "一份便當"),
    "訂": ("票", "一張去台中的高鐵票", "一張去香港的機票", "今晚兩個人的位子", "兩張電影票", "一間飯店"),
    "叫": ("車", "一輛車去機場", "一台計程車"),
    "買": ("年貨", "一箱水果", "一束花"),
    "預約": ("明天的剪髮", "週六的健康檢查"),
    "查": ("我的包裹到哪了", "附近的藥局"),
}
_HANT_CHAT_PREFIX = ("", "你好，", "嗨，")
_HANT_CHAT = (
    "今天天氣怎麼樣",
    "明天會下雨嗎",
    "講個笑話",
    "給我講個故事",
    "你叫什麼名字",
    "新年快樂",
    "寫一句拜年的話",
    "推薦一部電影",
    "陪我聊聊天吧",
    "過年有什麼習俗",
    "你會唱歌嗎",
)

# --- English ------------------------------------------------------------------------------------------
_EN_TASK_PREFIX = ("help me ", "please ", "can you ", "could you ", "i need you to ")
_EN_TASK_VERB_OBJECTS: dict[str, tuple[str, ...]] = {
    "order me": ("a coffee", "some dumplings", "a pizza", "bubble tea", "lunch", "dinner for two"),
    "book": (
        "a table for two tonight",
        "a train ticket to Zhengzhou",
        "a flight to Shanghai",
        "two movie tickets",
        "a hotel room for Friday",
        "a haircut tomorrow",
    ),
    "call me": ("a taxi", "a car to the airport", "a ride home"),
    "buy": ("new year gifts", "a box of fruit", "groceries for tomorrow", "flowers for my mom"),
    "track": ("my parcel", "my food order"),
}
_EN_CHAT_PREFIX = ("", "hey, ", "hi, ", "ok, ")
_EN_CHAT = (
    "tell me a joke",
    "what's the weather like today",
    "will it rain tomorrow",
    "how are you",
    "what's your name",
    "happy new year",
    "tell me a story",
    "what is the meaning of life",
    "recommend a movie",
    "why do cats like boxes",
    "say something nice",
    "what year of the zodiac is it",
    "can you sing",
)


def _tasks(prefixes: tuple[str, ...], verb_objects: dict[str, tuple[str, ...]], sep: str) -> list[str]:
    requests = [f"{verb}{sep}{obj}" for verb, objs in verb_objects.items() for obj in objs]
    return [p + r for p, r in product(prefixes, requests)]


def _chats(prefixes: tuple[str, ...], topics: tuple[str, ...]) -> list[str]:
    return [p + t for p, t in product(prefixes, topics)]


@dataclass(frozen=True)
class TextPools:
    """All texts in one Arrow array, sliced into (script, label) pools.

    ``offsets[s, l]`` / ``sizes[s, l]`` locate the pool of script ``SCRIPTS[s]`` and label ``LABELS[l]``
    inside ``texts``, so sampling is one integer draw and one ``take``.
    """

    texts: pa.Array
    offsets: np.ndarray
    sizes: np.ndarray


@cache
def text_pools() -> TextPools:
    """The pools, built once (pure function of this module's constants, so caching hides no state)."""
    pools = {
        ("zh-Hans", "task"): _tasks(_HANS_TASK_PREFIX, _HANS_TASK_VERB_OBJECTS, ""),
        ("zh-Hans", "chat"): _chats(_HANS_CHAT_PREFIX, _HANS_CHAT),
        ("zh-Hant", "task"): _tasks(_HANT_TASK_PREFIX, _HANT_TASK_VERB_OBJECTS, ""),
        ("zh-Hant", "chat"): _chats(_HANT_CHAT_PREFIX, _HANT_CHAT),
        ("en", "task"): _tasks(_EN_TASK_PREFIX, _EN_TASK_VERB_OBJECTS, " "),
        ("en", "chat"): _chats(_EN_CHAT_PREFIX, _EN_CHAT),
    }
    offsets = np.zeros((len(SCRIPTS), len(LABELS)), dtype=np.int64)
    sizes = np.zeros_like(offsets)
    flat: list[str] = []
    for s, script in enumerate(SCRIPTS):
        for lab, label in enumerate(LABELS):
            pool = pools[(script, label)]
            offsets[s, lab], sizes[s, lab] = len(flat), len(pool)
            flat.extend(pool)
    offsets.setflags(write=False)
    sizes.setflags(write=False)
    return TextPools(pa.array(flat, type=pa.string()), offsets, sizes)


def labelled_texts() -> pa.Table:
    """Every text the generator can emit with its true ``label`` ("task" | "chat") and ``script``.

    For tests and benchmarks of habit classifiers: the label is the template the string was built from,
    so it is ground truth, not a heuristic. Every text is distinct (a test checks it), so a text alone
    determines its label and script.
    """
    pools = text_pools()
    labels, scripts = [], []
    for s, script in enumerate(SCRIPTS):
        for lab, label in enumerate(LABELS):
            n = int(pools.sizes[s, lab])
            labels += [label] * n
            scripts += [script] * n
    return pa.table(
        {
            "text": pools.texts,
            "label": pa.array(labels, type=pa.string()),
            "script": pa.array(scripts, type=pa.string()),
        }
    )


def sample_text_indices(rng: np.random.Generator, is_task: np.ndarray, script: np.ndarray) -> np.ndarray:
    """Indices into ``text_pools().texts``: a task request where ``is_task`` else chat, in ``SCRIPTS[script]``.

    Returned as integers so the caller can place them among non-``ask`` rows (as nulls) with one ``take``.
    """
    pools = text_pools()
    label_idx = np.where(is_task, 0, 1)
    script = np.asarray(script, dtype=np.int64)
    size = pools.sizes[script, label_idx]
    return pools.offsets[script, label_idx] + (rng.random(len(size)) * size).astype(np.int64)


def sample_texts(rng: np.random.Generator, is_task: np.ndarray, script: np.ndarray) -> pa.Array:
    """One text per row (see :func:`sample_text_indices`); ``rng`` is the caller's stream, for reproducibility."""
    return text_pools().texts.take(pa.array(sample_text_indices(rng, is_task, script), type=pa.int64()))
