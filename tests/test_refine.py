"""BestOfN, Refine and MultiChainComparison: attempts, rewards, hints, traces."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import castlm as cl
import pytest
from castlm.agents._refine import HINT_OPENING


class QA(cl.Signature):
    """Answer the question."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class RolloutLM(cl.LM):
    """Answers with the request's rollout id (0 when unset), so attempts differ."""

    def __init__(self) -> None:
        super().__init__("rollout")
        self.requests: list[cl.LMRequest] = []
        self._lock = threading.Lock()

    def _send(self, request: cl.LMRequest) -> cl.LMResponse:
        with self._lock:
            self.requests.append(request)
        system = request.messages[0]["content"]
        n = request.rollout or 0
        if "`advice`" in system:  # Refine's feedback predictor
            text = "[[ ## reasoning ## ]]\nIt was short.\n\n[[ ## advice ## ]]\nSay more."
        elif "`reasoning`" in system:
            text = f"[[ ## reasoning ## ]]\nTry {n}.\n\n[[ ## answer ## ]]\n{n}"
        else:
            text = f"[[ ## answer ## ]]\n{n}"
        return cl.LMResponse(text + "\n\n[[ ## completed ## ]]", self.model)


def answer_is(target: str) -> Any:
    def reward(inputs: dict[str, Any], prediction: QA) -> float:
        return 1.0 if prediction.answer == target else float(prediction.answer) / 10

    return reward


def test_best_of_n_stops_at_the_threshold_and_samples_later_attempts() -> None:
    lm = RolloutLM()
    best = cl.BestOfN(cl.Predict(QA), N=5, reward_fn=answer_is("2"), threshold=1.0)
    best.set_lm(lm)
    assert best(question="?").answer == "2"
    assert [(r.rollout, r.temperature) for r in lm.requests] == [(None, None), (1, 1.0), (2, 1.0)]
    assert [n for n, _ in best.named_predictors()] == ["module"]


def test_best_of_n_keeps_the_best_answer_and_only_its_trace() -> None:
    lm = RolloutLM()
    best = cl.BestOfN(cl.Predict(QA), N=3, reward_fn=answer_is("never"), threshold=1.0)
    best.set_lm(lm)
    with cl.trace() as steps:
        result = best(question="?")
    assert result.answer == "2" and len(lm.requests) == 3
    assert [s.outputs["answer"] for s in steps] == ["2"]


def test_failures_are_tolerated_up_to_fail_count() -> None:
    calls: list[int] = []

    def flaky(question: str) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(f"attempt {len(calls)} failed")
        return "ok"

    ok = cl.BestOfN(flaky, N=3, reward_fn=lambda i, p: 1.0, threshold=1.0)
    assert ok(question="?") == "ok"
    calls.clear()
    strict = cl.BestOfN(flaky, N=3, reward_fn=lambda i, p: 1.0, threshold=1.0, fail_count=1)
    with pytest.raises(RuntimeError, match="attempt 2 failed"):
        strict(question="?")
    calls.clear()
    never = cl.BestOfN(flaky, N=2, reward_fn=lambda i, p: 1.0, threshold=1.0)
    with pytest.raises(RuntimeError, match="attempt 2 failed"):
        never(question="?")

    def bad_reward(inputs: dict[str, Any], prediction: str) -> float:
        raise ValueError("reward broke")

    with pytest.raises(ValueError, match="reward broke"):
        cl.BestOfN(lambda question: "x", N=2, reward_fn=bad_reward, threshold=1.0)(question="?")


def test_refine_passes_the_reward_feedback_to_the_next_attempt() -> None:
    lm = RolloutLM()

    def reward(inputs: dict[str, Any], prediction: QA) -> tuple[float, str]:
        return (1.0, "") if prediction.answer == "1" else (0.0, "Answer with the number one.")

    refine = cl.Refine(cl.Predict(QA), N=3, reward_fn=reward, threshold=1.0)
    refine.set_lm(lm)
    with cl.trace() as steps:
        assert refine(question="?").answer == "1"
    first, second = lm.requests
    assert HINT_OPENING not in first.messages[-1]["content"]
    assert second.messages[-1]["content"].endswith(f"{HINT_OPENING} Answer with the number one.")
    assert len(steps) == 1 and HINT_OPENING not in str(steps[0].messages)  # demos stay clean
    assert [n for n, _ in refine.named_predictors()] == ["module", "feedback"]


def test_refine_asks_its_feedback_predictor_when_the_reward_gives_no_advice() -> None:
    lm = RolloutLM()
    refine = cl.Refine(cl.ChainOfThought(QA), N=2, reward_fn=answer_is("1"), threshold=1.0)
    refine.set_lm(lm)
    assert refine(question="?").answer == "1"
    feedback = lm.requests[1]
    assert '"question": "?"' in feedback.messages[-1]["content"]
    assert lm.requests[2].messages[-1]["content"].endswith(f"{HINT_OPENING} Say more.")


def test_refine_and_best_of_n_run_asynchronously() -> None:
    lm = RolloutLM()
    refine = cl.Refine(cl.Predict(QA), N=4, reward_fn=answer_is("3"), threshold=1.0)
    refine.set_lm(lm)
    assert asyncio.run(refine.acall(question="?")).answer == "3"


def test_multi_chain_comparison_compares_m_attempts() -> None:
    lm = RolloutLM()
    mcc = cl.MultiChainComparison(QA, M=3)
    mcc.set_lm(lm)
    with cl.trace() as steps:
        result = mcc(question="?")
    assert isinstance(result, QA)
    assert [s.predictor for s in steps] == [mcc.generate] * 3 + [mcc.compare]
    attempts = steps[-1].inputs["attempts"]
    assert attempts.split("\n\n")[0] == "Attempt 1:\nreasoning: Try 0.\nanswer: 0"
    assert "Attempt 3:\nreasoning: Try 2.\nanswer: 2" in attempts
    assert result.attempts == attempts  # type: ignore[attr-defined]
    assert [r.temperature for r in lm.requests[:3]] == [None, 0.7, 0.7]
    assert [n for n, _ in mcc.named_predictors()] == ["generate", "compare"]
    assert asyncio.run(mcc.acall(question="?")).answer == "0"


def test_settings_are_checked() -> None:
    with pytest.raises(cl.ConfigurationError):
        cl.BestOfN(cl.Predict(QA), N=0, reward_fn=answer_is("1"), threshold=1.0)
    with pytest.raises(cl.ConfigurationError):
        cl.MultiChainComparison(QA, M=0)
