"""The task-intent classifier: accuracy on a hand-written, mixed-script labelled set, and the vectorised rules
against a one-text-at-a-time Python ``re`` reference.

``data/intents_labelled.tsv`` (text, label, script) was written by hand for this test, before the rules, from the
label definitions in :mod:`liuliang.signals.intents` — not from the generator's templates nor the rule lists.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

from liuliang.errors import ModelInputError
from liuliang.signals import IntentClassifier, classify_intents, evaluate_intents
from liuliang.signals.intents import LABELS, python_rule_label
from liuliang.simulate.texts import labelled_texts

DATA = Path(__file__).parent / "data" / "intents_labelled.tsv"


@pytest.fixture(scope="module")
def labelled() -> pa.Table:
    opts = pcsv.ParseOptions(delimiter="\t", quote_char=False)
    return pcsv.read_csv(DATA, parse_options=opts, convert_options=pcsv.ConvertOptions(strings_can_be_null=False))


def test_labelled_set_is_large_balanced_and_distinct(labelled: pa.Table) -> None:
    texts, labels, scripts = (labelled[c].to_pylist() for c in ("text", "label", "script"))
    assert len(texts) >= 300
    assert len(set(texts)) == len(texts)
    assert set(labels) == set(LABELS)
    cells = Counter(zip(scripts, labels, strict=True))
    for script in ("hans", "hant", "en"):
        for label in LABELS:
            assert cells[script, label] >= 30, (script, label)
    assert sum(n for (s, _), n in cells.items() if s == "mixed") >= 30


def test_rules_reach_95_percent_on_the_labelled_set(labelled: pa.Table) -> None:
    ev = evaluate_intents(IntentClassifier().classify(labelled["text"]), labelled["label"], labelled["script"])
    # First evaluation (rules written before the set was scored): 0.988, per script en 1.00, hans 0.980,
    # hant 0.979, mixed 1.00.
    assert ev.accuracy >= 0.95
    assert dict(zip(ev.groups, ev.group_accuracy, strict=True)) == pytest.approx(
        {"en": 1.0, "hans": 0.98, "hant": 0.98, "mixed": 1.0}, abs=0.03
    )
    assert ev.confusion.sum() == ev.n == labelled.num_rows
    assert np.trace(ev.confusion) == round(ev.accuracy * ev.n)


def test_confusion_matches_a_naive_count(labelled: pa.Table) -> None:
    pred = IntentClassifier().predict(labelled["text"])
    truth = labelled["label"].to_pylist()
    ev = evaluate_intents(classify_intents(labelled["text"]), truth)
    naive = Counter(zip(truth, pred, strict=True))
    for i, t in enumerate(LABELS):
        for j, p in enumerate(LABELS):
            assert ev.confusion[i, j] == naive[t, p]
    table = ev.confusion_table().to_pylist()
    assert {(r["true"], r["predicted"]): r["n"] for r in table} == {(t, p): naive[t, p] for t in LABELS for p in LABELS}


def test_generator_texts_task_vs_rest(labelled: pa.Table) -> None:
    """The generator labels task/chat only (its chat includes knowledge questions, which are 'other' here), so the
    comparison is task vs not-task — the split the habit metric counts."""
    t = labelled_texts()
    pred_task = IntentClassifier().classify(t["text"]).is_task
    true_task = np.asarray(t["label"].to_pylist()) == "task"
    assert (pred_task == true_task).mean() >= 0.95  # 0.976 when written (task recall 0.987)
    assert pred_task[true_task].mean() >= 0.95


def test_vectorised_rules_equal_python_re_reference(labelled: pa.Table) -> None:
    texts = labelled["text"].to_pylist() + labelled_texts()["text"].to_pylist()
    fast = IntentClassifier().predict(texts)
    assert list(fast) == [python_rule_label(x) for x in texts]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 329), min_size=1, max_size=40), st.lists(st.booleans(), min_size=40, max_size=40))
def test_a_text_label_does_not_depend_on_its_batch(idx: list[int], nulls: list[bool]) -> None:
    """Deduplication and null handling: every text gets the label it gets alone; nulls stay null."""
    all_texts = pcsv.read_csv(DATA, parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False))["text"]
    alone = IntentClassifier().predict(all_texts)
    batch = [None if nulls[k] else all_texts[i].as_py() for k, i in enumerate(idx)]
    got = IntentClassifier().predict(pa.array(batch, type=pa.string()))
    assert list(got) == [None if b is None else alone[i] for b, i in zip(batch, idx, strict=True)]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["task", "chat", "other"]), st.integers(0, 10_000))
def test_full_width_and_case_do_not_change_labels(label: str, seed: int) -> None:
    texts = [x for x in DATA.read_text(encoding="utf-8").splitlines()[1:] if x.split("\t")[1] == label]
    text = texts[seed % len(texts)].split("\t")[0]
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
    assert python_rule_label(wide.upper()) == python_rule_label(text)


@pytest.mark.parametrize("greeting", ["你好，", "哈喽 ", "hi, ", "早安！"])
def test_a_greeting_does_not_turn_a_request_into_chat(greeting: str) -> None:
    tasks = ["帮我订一张去上海的机票", "幫我叫一台車", "please order a pizza", "remind me to call the bank"]
    assert list(IntentClassifier().predict([greeting + t for t in tasks])) == ["task"] * len(tasks)


def test_typed_result_and_counts() -> None:
    res = classify_intents(["帮我订酒店", None, "哈哈哈", "123"])
    assert res.codes.tolist() == [0, -1, 1, 2]
    assert res.labels.to_pylist() == ["task", None, "chat", "other"]
    assert res.counts() == {"task": 1, "chat": 1, "other": 1}
    assert res.to_arrow().column_names == ["label"]
    assert res.method == "rules"


def test_sklearn_model_learns_from_labelled_text(labelled: pa.Table) -> None:
    """A char n-gram model trained on half the labelled set, scored on the other half (stratified by cell)."""
    texts = np.asarray(labelled["text"].to_pylist(), dtype=object)
    y = np.asarray(labelled["label"].to_pylist(), dtype=object)
    test = np.arange(len(y)) % 2 == 1
    clf = IntentClassifier(model="char-ngram").fit(texts[~test], y[~test])
    acc = clf.score(texts[test], y[test])
    assert acc > 0.6  # well above the 1/3 of guessing; 0.79 when written (165 training texts)
    assert "fitted on" in repr(clf)


def test_custom_model_is_cloned_not_fitted_in_place(labelled: pa.Table) -> None:
    template = make_pipeline(CountVectorizer(analyzer="char", ngram_range=(1, 2)), MultinomialNB())
    clf = IntentClassifier(model=template)
    with pytest.raises(NotFittedError):
        clf.classify(["帮我订酒店"])
    clf.fit(labelled["text"], labelled["label"])
    assert not hasattr(template[-1], "classes_")
    assert clf.score(labelled["text"], labelled["label"]) > 0.9  # training accuracy: the pipeline is wired right


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(ModelInputError, match="one of"):
        IntentClassifier().fit(["a", "b"], ["task", "chitchat"])
    with pytest.raises(ModelInputError, match="not one string"):
        IntentClassifier().classify("帮我订酒店")
    with pytest.raises(ModelInputError, match="'char-ngram'"):
        IntentClassifier(model="bert").fit(["a", "b"], ["task", "chat"])
    with pytest.raises(ModelInputError, match="strings"):
        IntentClassifier().classify(pa.array([1, 2]))
