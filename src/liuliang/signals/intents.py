"""Task intent: is a message a request for the assistant to *do* something, chit-chat, or neither?

The market's own habit metric is "how many times users said '<assistant>, help me…'": a user who asks the assistant
to book, order, buy or call every week has a habit; one who only says hello after a red packet does not. This module
turns each ``text`` into one of three labels:

- ``task``: a request to act in the world or to produce something for the user — book, order, buy, reserve, call,
  send, remind, translate, look up, write, plan, pay, cancel — in simplified Chinese (帮我订…), traditional Chinese
  (幫我訂…), English (please book…), or a mix of them in one line (帮我book一个meeting room).
- ``chat``: social talk — greetings, thanks, goodbyes, how are you, jokes and stories, opinions, feelings, the
  weather as small talk, questions about the assistant itself, laughing emoji.
- ``other``: the rest — factual questions ("how far is…"), how-to questions about tasks ("怎么取消订单"), capability
  questions ("你能订机票吗", "can you book flights?"), reports of what already happened ("我昨天订了酒店"),
  negated or withdrawn requests ("不用帮我订了", "don't book it yet"), acknowledgements, ids and numbers.

Why rules by default: the metric is reported to growth teams who must be able to read why a message counted, and
it must run on every ``ask`` event in a warehouse (millions a day) without a trained model to ship and version. The
rules are a handful of regular expressions over the NFKC-normalised, lower-cased text (NFKC folds full-width
letters and punctuation, so ＢＯＯＫ and ！ match book and !), each evaluated once over the whole Arrow array by
Arrow's RE2 kernels on the *distinct* texts only (real logs repeat "帮我打车" endlessly); the decision is then
integer logic on boolean NumPy arrays. Nothing loops over texts in Python.

The decision, per text (every name is a pattern below):

1. ``task`` if a request (a request marker and a task verb anywhere — ``REQUEST`` & ``VERB`` — or a task verb
   opening the sentence — ``IMPERATIVE``) is present, and it is not negated (``NEGATED`` and not
   ``DONT_FORGET``), not a report of the past (``PAST``), and not a how-to or capability question (``HOW_TO`` or
   ``CAPABILITY``) unless an explicit plea (``PLEA``: 帮我, please, help me…) makes it a request anyway.
2. else ``chat`` if a chit-chat pattern (``CHAT``) is present and the text is not a negated request;
3. else ``other``.

A pluggable scikit-learn model replaces the rules when labelled logs exist (``IntentClassifier(model=...)``), e.g.
the character n-gram TF-IDF + logistic regression of :func:`char_ngram_model`, which needs no word segmentation
for Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from liuliang.errors import ModelInputError

IntentLabel = Literal["task", "chat", "other"]
LABELS: tuple[IntentLabel, ...] = ("task", "chat", "other")
TASK_CODE, CHAT_CODE, OTHER_CODE, MISSING_CODE = 0, 1, 2, -1

# --- the rules -------------------------------------------------------------------------------------------------
# Patterns are RE2 syntax (Arrow's regex engine) and also valid Python `re` syntax, so the tests can evaluate them
# one text at a time with `re` as an independent reference for the vectorised path. They run on lower-cased NFKC
# text: full-width ， ！ ？ are already , ! ? here. `\b` is ASCII-only in RE2, so "帮我book" has a boundary before b.

# Verbs that make a request a task, with a following character where the bare character is too common (点 in
# 一点/有点, 发 in 发票/发烧, 交 in 交朋友).
_VERB_ZH = (
    r"预定|預定|预订|預訂|订|訂|预约|預約|约一下|約一下|挂号|掛號|挂个|掛個"
    r"|[点點](?:一|两|兩|个|個|份|杯|碗|些|外卖|外賣|外送|餐|菜|单|單|早|午|晚|夜宵|宵夜)"
    r"|买|買|购|購|下单|下單|抢|搶"
    r"|打车|打車|叫车|叫車|约车|約車|叫(?:一)?(?:辆|輛|台|部|个|個)|叫(?:代驾|代駕|外卖|外賣|外送|计程车|計程車|出租)"
    r"|打(?:一)?(?:个|個|通)?电话|打(?:一)?(?:个|個|通)?電話|打给|打給|回电|回電"
    r"|[发發](?:一|个|個|条|條|封|微信|消息|訊息|短信|简讯|簡訊|邮件|郵件|红包|紅包|给|給)"
    r"|[传傳](?:一|个|個|条|條|讯息|訊息|消息|给|給)|寄|转账|轉帳|转给|轉給"
    r"|提醒|闹钟|鬧鐘|[设設](?:置|定)?(?:一|个|個)|定(?:一)?(?:个|個)?(?:闹钟|鬧鐘)"
    r"|翻译|翻譯|[写寫]|查|搜|找|规划|規劃|计划|計劃|安排"
    r"|取消|退(?:掉|订|訂|票|货|貨)|改签|改簽|改(?:一下|成|到)"
    r"|缴|繳|交(?:一下)?(?:电费|電費|话费|話費|水费|水費|房租|学费|學費)|充值|付(?:一下|钱|錢|款)|支付"
    r"|导航|導航|带我去|帶我去|播放|放(?:一)?首|打开|打開|关掉|關掉|送(?:到|给|給|去)"
)
_VERB_EN = (
    r"\b(?:book|order|buy|purchase|reserve|call|phone|ring|text|send|email|message|remind|translate|schedule"
    r"|plan|find|search|look up|check|get me|set (?:an|a|my|the) (?:alarm|timer|reminder)|set an?|cancel|pay"
    r"|write|draft|navigate|play|add|pick up|deliver|rent|hail|arrange)\b"
)
VERB = f"(?:{_VERB_ZH}|{_VERB_EN})"

# Short verb stems for negation and past-tense checks, where a few characters of context are enough.
_VERB_CORE = (
    r"(?:订|訂|预约|預約|买|買|点|點|打|叫|[发發传傳]|寄|提醒|取消|[写寫]|查|约|約|下单|下單"
    r"|\bbook|\border|\bbuy|\bcall|\bsend|\bremind|\breserve|\btext|\bemail)"
)

# An explicit plea: on its own it turns a how-to or capability question into a request ("帮我查一下怎么去机场").
_PLEA_ZH = r"帮我|幫我|帮忙|幫忙|帮.我|幫.我|麻烦|麻煩|替我|给我|給我|为我|為我|请|請"
_PLEA_EN = r"\bhelp me\b|\bplease\b|\bpls\b|\bplz\b|\bi need you to\b|\bi'?d like you to\b|\bi want you to\b|\bfor me\b"
PLEA = f"(?:{_PLEA_ZH}|{_PLEA_EN})"

# Request markers: pleas plus wanting and asking forms.
_ASK_ZH = (
    r"我要|我想|我需要|想要|能不能|可不可以|可以|能否|能帮|能幫|你帮|你幫|小助手|小帮手|小幫手"
    r"|帮.{0,2}一下|幫.{0,2}一下"
)
_ASK_EN = (
    r"\bcan (?:you|u)\b|\bcould (?:you|u)\b|\bwould you\b|\bwill you\b|\bi need to\b|\bi want to\b|\bi'?d like to\b"
    r"|\bi wanna\b|\blet'?s\b|\bget me\b|\bme an?\b"
)
REQUEST = f"(?:{_PLEA_ZH}|{_PLEA_EN}|{_ASK_ZH}|{_ASK_EN})"

# A task verb opening the text, after an optional address ("小助手，", "hey, ", "please "). Nouns that share a
# verb's first character (订单, 发票, order number) are excluded by requiring what follows.
_OPENER = (
    r"^[\s,.!~:;]*(?:(?:小助手|小帮手|小幫手|嘿|喂|你好|您好|哈[喽囉啰]|嗨|早安|早上好|晚上好|hey|hi|hello|ok|okay"
    r"|yo|siri|assistant|good (?:morning|evening|afternoon)|please|pls|请|請)[\s,.!~:;。、]*)*"
)
_IMPERATIVE_ZH = (
    r"(?:预订|預訂|预定|預定|预约|預約|[订訂](?:[^单單]|$)|[点點](?:一|两|兩|个|個|份|杯|碗|些|外卖|外賣|餐)|买|買"
    r"|打车|打車|叫车|叫車|叫(?:一)?(?:辆|輛|台|部|个|個)|给[^,。!?]{1,6}(?:打|[发發]|[传傳]|寄|订|訂|买|買)"
    r"|給[^,。!?]{1,6}(?:打|[发發]|[传傳]|寄|订|訂|买|買)|打(?:一)?(?:个|個|通)?(?:电话|電話)|打给|打給"
    r"|[发發](?:一|个|個|条|條|封|微信|消息|訊息|短信|简讯|簡訊|邮件|郵件|红包|紅包|给|給)|[传傳](?:讯息|訊息|消息|给|給)"
    r"|提醒我|[设設](?:置|定)?(?:一|个|個)|翻译|翻譯|[写寫](?:一|个|個|封|份|段|篇)|查|搜|找(?:一|个|個|家|间|間)"
    r"|规划|規劃|安排|取消|退(?:掉|订|訂|票)|改签|改簽|缴|繳|充值|导航|導航|带我去|帶我去|播放|放(?:一)?首|寄)"
)
_IMPERATIVE_EN = (
    r"(?:book|order|buy|purchase|reserve|call|phone|text|send|email|message|remind|translate|schedule|set"
    r"|find|search|look up|check|get me|cancel|pay|write|draft|navigate|play|plan|add|rent|hail|arrange)\b"
)
IMPERATIVE = f"{_OPENER}(?:{_IMPERATIVE_ZH}|{_IMPERATIVE_EN})"
# ...unless the opening word is a noun: "order number 7781", "book is great" (RE2 has no look-ahead, so this is a
# separate mask subtracted in the decision).
NOUN_OPENING = (
    f"{_OPENER}(?:book|order|call|text|plan|check|message|email|search)s?"
    r"\s+(?:number|no|id|#|status|history|is|was|has|had|went|of)\b"
)

# Negation before a task verb within a few characters: 不用帮我订了, 先别买, don't book it, no need to order.
_NEG = r"(?:不用|不要|别|別|不必|甭|无需|無需|不需要|\bdon'?t|\bdo not|\bno need to|\bnever mind|\bstop|\bnot now)"
NEGATED = f"{_NEG}[^,。!?;]{{0,6}}?{_VERB_CORE}"
DONT_FORGET = r"别忘|別忘|不要忘|don'?t forget|do not forget"

# Reports of what already happened: a verb stem followed by a perfective marker, or "already" before it.
PAST = f"{_VERB_CORE}\\s*(?:了|过|過|好了)|(?:已经|已經|\\balready\\b)[^,。!?]{{0,6}}?{_VERB_CORE}"

# How-to / information questions about a task, and questions about what the assistant can do.
HOW_TO = (
    r"怎[么麼](?:[^样樣了办辦]|$)|如何|怎[样樣](?:才|可以|能)|\bhow (?:do|can|should|would|could) (?:i|we|one)\b"
    r"|\bhow to\b|\bwhat'?s the best way to\b"
)
CAPABILITY = (
    r"你(?:会|會|能|可以)[^帮幫给給替]{0,3}" + _VERB_CORE + r"[^,。!?]{0,8}(?:吗|嗎|么|麼)\s*\??$"
    r"|^(?:can|could|do) (?:you|u) " + _VERB_CORE + r"[a-z]*\s+[a-z]+s\s*\??$"
    r"|\bdo you (?:support|do)\b|\bare you able to\b|\bis it possible to\b|\bdo you know how to\b"
)

# Chit-chat: greetings, farewells, thanks, laughter, jokes and stories, feelings, opinions, the assistant itself.
_CHAT_ZH = (
    r"你好|您好|哈[喽囉啰]|嗨|早上好|早安|午安|晚上好|晚安|在吗|在嗎|在不在|吃了吗|吃了嗎|吃饭了|吃飯了"
    r"|哈哈|呵呵|嘿嘿|嘻嘻|笑死|好笑|有趣|笑话|笑話|故事|唱(?:一)?(?:首|个|個)?歌|唱一首"
    r"|你(?:觉得|覺得|认为|認為|喜欢|喜歡|爱|愛|会不会|會不會|是谁|是誰|叫什么|叫什麼|几岁|幾歲|多大|是机器人|是機器人"
    r"|是人|真|好|最喜欢|最喜歡|最近)"
    r"|最近(?:怎么样|怎麼樣|好吗|好嗎)|怎么样啊|怎麼樣啊"
    r"|(?:好|很|太|真|超|有点|有點)(?:累|烦|煩|无聊|無聊|开心|開心|难过|難過|伤心|傷心|孤单|孤單|寂寞|冷|热|熱|棒|可爱|可愛)"
    r"|无聊|無聊|开心|開心|难过|難過|伤心|傷心|心情|失恋|失戀|想你|爱你|愛你|累死"
    r"|谢谢|謝謝|多谢|多謝|感谢|感謝|辛苦了|再见|再見|拜拜|回头见|回頭見|明天见|明天見|下次见|下次見"
    r"|天气(?:真|好|不错|不錯)|天氣(?:真|好|不錯)|下雨|聊天|聊聊|陪我|哄|周末|週末|好想|出去玩|好看|好吃|好喝"
)
_CHAT_EN = (
    r"\b(?:hi|hello|hey|yo|howdy|hiya|sup|lol|lmao|rofl|hehe|ha(?:ha)+\w*|yay|bye|goodbye|thanks|thank you|thx|ty"
    r"|good (?:morning|night|evening|afternoon)|how are (?:you|u|things)|how'?s it going|what'?s up|how have you been"
    r"|joke|jokes|story|stories|sing|song|chat|bored|boring|tired|sad|happy|lonely|love|favou?rite|funny|hilarious"
    r"|do you (?:like|think|ever|love|enjoy)|what do you think|are you (?:a robot|human|real|ok)|who are you"
    r"|your name|how old|see you|weekend|beautiful day|nice day|smart|the best|miss you|awesome|cool)\b"
)
_CHAT_EMOJI = "[\U0001f600-\U0001f64f\U0001f970-\U0001f97a\u2764\u263a\U0001f495-\U0001f49f]"
CHAT = f"(?:{_CHAT_ZH}|{_CHAT_EN}|{_CHAT_EMOJI})"

#: Every pattern the rules use, by name; the decision in :func:`_decide` combines their boolean masks.
PATTERNS: dict[str, str] = {
    "REQUEST": REQUEST,
    "VERB": VERB,
    "IMPERATIVE": IMPERATIVE,
    "NOUN_OPENING": NOUN_OPENING,
    "PLEA": PLEA,
    "NEGATED": NEGATED,
    "DONT_FORGET": DONT_FORGET,
    "PAST": PAST,
    "HOW_TO": HOW_TO,
    "CAPABILITY": CAPABILITY,
    "CHAT": CHAT,
}


def _decide(m: dict[str, np.ndarray]) -> np.ndarray:
    """Label codes from the pattern masks (the decision list in the module docstring), as pure NumPy logic."""
    request = (m["REQUEST"] & m["VERB"]) | (m["IMPERATIVE"] & ~m["NOUN_OPENING"])
    negated = m["NEGATED"] & ~m["DONT_FORGET"]
    question = (m["HOW_TO"] | m["CAPABILITY"]) & ~m["PLEA"]
    task = request & ~negated & ~m["PAST"] & ~question
    chat = m["CHAT"] & ~negated
    return np.where(task, TASK_CODE, np.where(chat, CHAT_CODE, OTHER_CODE)).astype(np.int8)


def normalise(texts: pa.Array) -> pa.Array:
    """NFKC then lower case: full-width ＡＢＣ，！ become abc,! so one pattern covers both widths and both cases."""
    return pc.utf8_lower(pc.utf8_normalize(texts, form="NFKC"))


def rule_masks(texts: pa.Array) -> dict[str, np.ndarray]:
    """Each pattern's boolean mask over ``texts`` (already normalised, no nulls), via Arrow's RE2 kernels."""
    return {
        name: pc.match_substring_regex(texts, pattern).to_numpy(zero_copy_only=False).astype(bool)
        for name, pattern in PATTERNS.items()
    }


def rule_codes(texts: pa.Array) -> np.ndarray:
    """Rule labels (0 task, 1 chat, 2 other) for non-null strings, computed once per distinct normalised text."""
    norm = normalise(texts)
    distinct = pc.unique(norm)
    codes = _decide(rule_masks(distinct))
    return codes[pc.index_in(norm, value_set=distinct).to_numpy(zero_copy_only=False)]


# --- inputs and results -----------------------------------------------------------------------------------------


def as_string_array(texts: Any) -> pa.Array:
    """Any sequence of strings (list, NumPy, pandas, Arrow, chunked) as one Arrow string array; nulls kept."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        if pa.types.is_dictionary(texts.type):
            texts = texts.cast(texts.type.value_type)
        if pa.types.is_large_string(texts.type) or pa.types.is_string_view(texts.type):
            texts = texts.cast(pa.string())
        if not pa.types.is_string(texts.type):
            raise ModelInputError(f"texts must be strings; got an Arrow array of type {texts.type}")
        return texts
    if isinstance(texts, str):
        raise ModelInputError("texts must be a sequence of strings, not one string (wrap it in a list)")
    values = texts.to_numpy() if hasattr(texts, "to_numpy") else texts
    try:
        return pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise ModelInputError(f"texts must be strings or None: {e}") from e


@dataclass(frozen=True)
class IntentLabels:
    """The label of each text: ``codes`` (int8; 0 task, 1 chat, 2 other, -1 where the text is null) and the method.

    Null texts (rows that are not messages) stay null rather than becoming ``other``, so a count of ``other`` is a
    count of messages.
    """

    codes: np.ndarray
    method: str

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def labels(self) -> pa.DictionaryArray:
        """The labels as an Arrow dictionary array over ``("task", "chat", "other")``, null where the text is."""
        codes = pa.array(self.codes, type=pa.int8(), mask=self.codes < 0)
        return pa.DictionaryArray.from_arrays(codes, pa.array(LABELS, type=pa.string()))

    @property
    def is_task(self) -> np.ndarray:
        """Boolean mask of task requests (the habit metric counts these)."""
        return self.codes == TASK_CODE

    def counts(self) -> dict[IntentLabel, int]:
        """Messages per label (null texts are not messages and are not counted)."""
        n = np.bincount(self.codes[self.codes >= 0], minlength=len(LABELS))
        return {label: int(n[i]) for i, label in enumerate(LABELS)}

    def to_arrow(self) -> pa.Table:
        """One row per text: ``label`` (dictionary string, null for null texts)."""
        return pa.table({"label": self.labels})

    def to_pandas(self):
        return self.to_arrow().to_pandas()


@dataclass(frozen=True)
class IntentEvaluation:
    """Accuracy of predicted labels against true ones, overall and per group (script, source...).

    ``confusion[i, j]`` counts texts whose true label is ``LABELS[i]`` and predicted label ``LABELS[j]``.
    """

    n: int
    accuracy: float
    confusion: np.ndarray
    groups: tuple[str, ...]
    group_n: np.ndarray
    group_accuracy: np.ndarray

    def confusion_table(self) -> pa.Table:
        """The confusion matrix as a long table: ``true``, ``predicted``, ``n``."""
        i, j = np.meshgrid(np.arange(len(LABELS)), np.arange(len(LABELS)), indexing="ij")
        return pa.table(
            {
                "true": pa.array([LABELS[k] for k in i.ravel()]),
                "predicted": pa.array([LABELS[k] for k in j.ravel()]),
                "n": pa.array(self.confusion.ravel(), type=pa.int64()),
            }
        )

    def to_arrow(self) -> pa.Table:
        """Per-group accuracy: ``group``, ``n``, ``accuracy``."""
        return pa.table(
            {
                "group": pa.array(self.groups, type=pa.string()),
                "n": pa.array(self.group_n, type=pa.int64()),
                "accuracy": pa.array(self.group_accuracy, type=pa.float64()),
            }
        )

    def to_pandas(self):
        return self.to_arrow().to_pandas()


def _label_codes(labels: Any, what: str) -> np.ndarray:
    arr = as_string_array(labels)
    if arr.null_count:
        raise ModelInputError(f"{what} has {arr.null_count} null label(s); every label must be one of {LABELS}")
    idx = pc.index_in(arr, value_set=pa.array(LABELS, type=pa.string()))
    if idx.null_count:
        bad = sorted(set(pc.filter(arr, pc.is_null(idx)).to_pylist()))[:5]
        raise ModelInputError(f"{what} must be one of {LABELS}; got {bad}")
    return idx.to_numpy(zero_copy_only=False).astype(np.int8)


def evaluate_intents(predicted: IntentLabels, truth: Any, groups: Sequence[str] | None = None) -> IntentEvaluation:
    """Compare ``predicted`` with true labels (strings from :data:`LABELS`), optionally per group."""
    true = _label_codes(truth, "truth")
    if len(true) != len(predicted):
        raise ModelInputError(f"truth has {len(true)} labels but {len(predicted)} texts were classified")
    if (predicted.codes < 0).any():
        raise ModelInputError("cannot evaluate null texts: drop them first (their label is unknown)")
    hit = true == predicted.codes
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
    np.add.at(confusion, (true, predicted.codes), 1)
    if groups is None:
        names, g = ("all",), np.zeros(len(true), dtype=np.int64)
    else:
        if len(groups) != len(true):
            raise ModelInputError(f"groups has {len(groups)} values for {len(true)} texts")
        uniq, g = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        names = tuple(str(u) for u in uniq)
    group_n = np.bincount(g, minlength=len(names))
    group_hit = np.bincount(g, weights=hit, minlength=len(names))
    return IntentEvaluation(
        n=len(true),
        accuracy=float(hit.mean()) if len(hit) else float("nan"),
        confusion=confusion,
        groups=names,
        group_n=group_n,
        group_accuracy=np.divide(group_hit, group_n, out=np.full(len(names), np.nan), where=group_n > 0),
    )


# --- the estimator ----------------------------------------------------------------------------------------------


def char_ngram_model(*, ngram_range: tuple[int, int] = (1, 3), C: float = 10.0, random_state: int = 0):
    """A character n-gram TF-IDF + logistic regression pipeline: works on Chinese without word segmentation."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=True, sublinear_tf=True),
        LogisticRegression(C=C, max_iter=2000, random_state=random_state),
    )


class IntentClassifier(BaseEstimator):
    """Classify texts as ``task`` / ``chat`` / ``other``; rules by default, a scikit-learn model if given.

    Parameters
    ----------
    model : None, "char-ngram" or a scikit-learn estimator
        ``None`` (default): the rules of this module; they need no fit and :meth:`fit` only checks its input.
        ``"char-ngram"``: :func:`char_ngram_model`. An estimator (usually a Pipeline starting with a vectoriser)
        is cloned in :meth:`fit`, so the caller's object is never fitted in place.

    Attributes
    ----------
    classes_ : tuple of str
        ``("task", "chat", "other")``.
    model_ : estimator
        The fitted clone (only with a model).

    Examples
    --------
    >>> IntentClassifier().classify(["帮我订一张去上海的机票", "哈哈你好", "怎么取消订单"]).labels.to_pylist()
    ['task', 'chat', 'other']
    """

    def __init__(self, model: Any = None) -> None:
        self.model = model

    def __sklearn_is_fitted__(self) -> bool:
        return self.model is None or hasattr(self, "model_")

    def __repr__(self) -> str:
        if self.model is None:
            return "<IntentClassifier: rules>"
        state = f"fitted on {self.n_train_} texts" if hasattr(self, "model_") else "unfitted"
        kind = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"<IntentClassifier: {kind}, {state}>"

    def _template(self):
        if isinstance(self.model, str):
            if self.model != "char-ngram":
                raise ModelInputError(
                    f"IntentClassifier: model must be None, 'char-ngram' or an estimator; got {self.model!r}"
                )
            return char_ngram_model()
        if not (hasattr(self.model, "fit") and hasattr(self.model, "predict")):
            raise ModelInputError(f"IntentClassifier: model must have fit and predict; got {type(self.model).__name__}")
        return clone(self.model)

    def fit(self, texts: Any, labels: Any) -> IntentClassifier:
        """Fit the model on labelled texts (labels from ``("task", "chat", "other")``); returns ``self``."""
        arr = as_string_array(texts)
        y = _label_codes(labels, "labels")
        if len(arr) != len(y):
            raise ModelInputError(f"texts has {len(arr)} values but labels has {len(y)}")
        if arr.null_count:
            raise ModelInputError(f"texts has {arr.null_count} null(s); a null has no label to learn")
        self.classes_ = LABELS
        if self.model is not None:
            est = self._template()
            present = np.unique(y)
            if len(present) < 2:
                raise ModelInputError(f"labels must contain at least two classes to fit a model; got {present.size}")
            est.fit(normalise(arr).to_pylist(), y)
            self.model_ = est
            self.n_train_ = len(y)
        return self

    def classify(self, texts: Any) -> IntentLabels:
        """Label every text; null texts get code -1 (null label)."""
        check_is_fitted(self)
        arr = as_string_array(texts)
        codes = np.full(len(arr), MISSING_CODE, dtype=np.int8)
        valid = ~arr.is_null().to_numpy(zero_copy_only=False)
        present = arr.filter(pa.array(valid)) if arr.null_count else arr
        if len(present):
            if self.model is None:
                codes[valid] = rule_codes(present)
            else:
                norm = normalise(present)
                distinct = pc.unique(norm)
                pred = np.asarray(self.model_.predict(distinct.to_pylist()), dtype=np.int8)
                codes[valid] = pred[pc.index_in(norm, value_set=distinct).to_numpy(zero_copy_only=False)]
        method = "rules" if self.model is None else type(self.model_).__name__
        return IntentLabels(codes=codes, method=method)

    def predict(self, texts: Any) -> np.ndarray:
        """Label strings as a NumPy object array (scikit-learn convention); ``None`` for null texts."""
        codes = self.classify(texts).codes
        out = np.array([*LABELS, None], dtype=object)
        return out[np.where(codes < 0, len(LABELS), codes)]

    def score(self, texts: Any, labels: Any) -> float:
        """Accuracy on labelled texts (scikit-learn convention)."""
        return evaluate_intents(self.classify(texts), labels).accuracy


def classify_intents(texts: Any, *, model: IntentClassifier | None = None) -> IntentLabels:
    """Label texts with ``model`` (default: the rules)."""
    return (model or IntentClassifier()).classify(texts)


def python_rule_label(text: str) -> IntentLabel:
    """The rules on one text with Python's ``re``: a slow, independent reference for the vectorised path (tests)."""
    import unicodedata

    norm = unicodedata.normalize("NFKC", text).lower()
    # re.ASCII: RE2's \b, \w and \s are ASCII-only, so "帮我book" has a word boundary before "book" in both.
    masks = {name: np.array([re.search(p, norm, flags=re.ASCII) is not None]) for name, p in PATTERNS.items()}
    return LABELS[int(_decide(masks)[0])]
