"""Which fields a metric surely reads from its example, found statically in its source."""

from __future__ import annotations

import textwrap

import pytest
from castlm.compiler.analyze.metric_reads import metric_reads


def reads(body: str, signature: str = "example, pred, trace=None") -> dict[str, int] | None:
    source = f"def metric({signature}):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    found = metric_reads(source + "\n", "metric", 1)
    return None if found is None else {r.name: r.line for r in found}


def test_attribute_subscript_get_and_getattr_reads_are_found_with_their_lines() -> None:
    body = """
        expected = example["customer"]
        hit = pred.category == example.category
        urgent = example.get("urgent") == pred.urgent
        return hit + urgent + (getattr(example, "plan") == expected["plan"])
    """
    assert reads(body) == {"customer": 2, "category": 3, "urgent": 4, "plan": 5}


def test_dynamic_use_of_the_example_says_nothing() -> None:
    assert reads("return example.category == pred.category and helper(example)") is None
    assert reads("return all(example[k] == getattr(pred, k) for k in KEYS)") is None
    assert reads("return example.labels() == pred.model_dump()") is None
    assert reads("ex = example\nreturn ex.category == pred.category") is None
    assert reads("return float(example.category == pred.category)") == {"category": 2}


def test_tested_or_defaulted_fields_are_optional() -> None:
    assert reads('return example.get("note", "") == pred.note') == {}
    body = """
        if "note" in example:
            return example.note == pred.note
        if hasattr(example, "hint") and example.hint:
            return 0.5
        return example.category == pred.category
    """
    assert reads(body) == {}  # category: reached only when the row has no note
    assert reads('if example.get("note"):\n    return 1.0\nreturn example.category == pred.x') == {}


def test_reads_behind_conditions_on_the_example_are_not_required() -> None:
    body = """
        kind = example.kind
        if kind == "math":
            return float(example.answer == pred.answer)
        return 1.0 if example.topic == "x" and example.extra else 0.0
    """
    assert reads(body) == {"kind": 2}
    caught = "try:\n    return example.answer == pred.answer\nexcept KeyError:\n    return 0.0"
    assert reads(caught) == {}


def test_reads_behind_conditions_on_the_prediction_are_required() -> None:
    body = """
        if pred is None:
            return 0.0
        if pred.category == "bug":
            return float(example.severity == pred.severity)
        return float(example.category == pred.category)
    """
    assert reads(body) == {"severity": 5, "category": 6}


def test_a_bound_method_skips_self_and_decorators_are_part_of_the_definition() -> None:
    source = textwrap.dedent(
        """
        class Scorer:
            @staticmethod
            def other(): ...

            @decorated
            def metric(self, example, pred):
                return example.label == pred.label
        """
    )
    found = metric_reads(source, "metric", 6, skip=1)
    assert found is not None and [(r.name, r.line, r.code) for r in found] == [
        ("label", 8, "example.label")
    ]


@pytest.mark.parametrize("source", ["def metric(:\n", "metric = lambda e, p: e.x == p.x\n"])
def test_no_function_definition_says_nothing(source: str) -> None:
    assert metric_reads(source, "metric", 1) is None
