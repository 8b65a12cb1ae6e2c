"""Evidence for the instruction proposer, taken from scored runs of the program.

A scored run (an :class:`ExampleResult` with its trace) says, for each predictor call, what
the step was given and what it answered; the example says what was expected. Both become an
:class:`Evidence` record, with a feedback line naming the score and the fields that were wrong
("expected category=billing, got bug"), so the prompt model sees outcomes, not just data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from castlm import Example, Module, Predict

from ..evaluate import ExampleResult
from .propose import Evidence, dumps


def step_records(
    program: Module, result: ExampleResult, name: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(inputs, outputs) of every call of predictor ``name`` in ``result``, as JSON data."""
    named = dict(program.named_predictors())
    predictor = named.get(name)
    if predictor is None:
        return []
    records = []
    for step in result.trace:
        if step.predictor is predictor:
            data = dict(predictor.normalize_demos([{**step.inputs, **step.outputs}])[0])
            inputs = {f.name: data[f.name] for f in predictor.spec.inputs if f.name in data}
            outputs = {f.name: data[f.name] for f in predictor.spec.outputs if f.name in data}
            records.append((inputs, outputs))
    return records


def expected_for(predictor: Predict[Any], example: Example) -> dict[str, Any]:
    """The example's labels for this predictor's outputs (none for an intermediate step)."""
    return {f.name: example[f.name] for f in predictor.spec.outputs if f.name in example}


def mismatches(expected: Mapping[str, Any], answered: Mapping[str, Any]) -> list[str]:
    """``expected X, got Y`` for every expected field the answer got wrong (nested: by path)."""
    found: list[str] = []
    for key, want in expected.items():
        got = answered.get(key)
        if isinstance(want, Mapping) and isinstance(got, Mapping):
            found.extend(f"{key}.{m}" for m in mismatches(want, got))
        elif got != want:
            found.append(f"{key}: expected {_show(want)}, got {_show(got)}")
    return found


def feedback(score: float, expected: Mapping[str, Any], answered: Mapping[str, Any]) -> str:
    wrong = mismatches(expected, answered)
    detail = "; ".join(wrong) if wrong else "every expected field is right"
    return f"score {score:.2f}: {detail}"


def run_evidence(program: Module, result: ExampleResult, name: str) -> list[Evidence]:
    """One record per call of predictor ``name`` in a scored run, with its feedback."""
    predictor = dict(program.named_predictors())[name]
    expected = expected_for(predictor, result.example)
    records = []
    for inputs, outputs in step_records(program, result, name):
        note = feedback(result.score, expected, outputs)
        records.append(Evidence(inputs, expected, outputs, note))
    if not records and result.error is not None:
        inputs = {
            f.name: result.example[f.name]
            for f in predictor.spec.inputs
            if f.name in result.example
        }
        if inputs:
            records.append(Evidence(inputs, expected, None, f"the run failed: {result.error}"))
    return records


def _show(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def trajectory(program: Module, result: ExampleResult) -> str:
    """A run's predictor calls in order, one JSON object per line (module, inputs, outputs)."""
    names = {id(p): n for n, p in program.named_predictors()}
    lines = []
    for step in result.trace:
        name = names.get(id(step.predictor), step.signature)
        lines.append(
            dumps({"module": name, "inputs": dict(step.inputs), "outputs": dict(step.outputs)})
        )
    if result.error is not None:
        lines.append(dumps({"error": result.error}))
    return "\n".join(lines)
