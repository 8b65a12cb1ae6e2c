"""Ensemble: several parameter sets in one package, run concurrently, outputs reduced."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import typing
from typing import Any, Literal

import castlm as cl
import pytest
from castlm import LMRequest, LMResponse
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.loader import import_program
from castlm.compiler.optimizers import make_optimizer
from castlm.compiler.optimizers.ensemble import resolve_reducer
from castlm.testing import StandInLM
from pydantic import BaseModel
from support.optimizer_packages import built, run_castlm_free
from support.triage_task import triage
from test_emit_support import imported


# -- the optimizer on the triage task -------------------------------------------------------
def test_an_ensemble_of_the_best_candidates_beats_zero_shot_on_held_out_dev() -> None:
    task = triage()
    options = {"base": "random_search", "base_options": {"num_candidate_programs": 6}}
    result, ctx, _ = task.compile("ensemble", options)
    assert len(result.members) == 3 and result.params == result.members[0]
    assert len({repr(m) for m in result.members}) == 3
    assert len(ctx.trials) == 9  # random_search's candidates, kept for the report
    evaluator = Evaluator(task.metric, task.call_args, 4)
    zero_shot = evaluator(task.student(StandInLM()), task.dev).score
    lm = StandInLM()
    program = result.program(task.student(lm))
    assert isinstance(program, cl.Ensemble)
    assert evaluator(program, task.dev).score > zero_shot + 15  # 64.4 vs 29.7 when written
    assert lm.stats.calls == 3 * len(task.dev)  # every member answers every call


def test_without_scored_candidates_each_member_is_a_reseeded_run() -> None:
    task = triage()
    result, _, _ = task.compile("ensemble", {"size": 2, "score_members": True})
    alone, _, _ = task.compile("bootstrap", {})
    assert result.members[0] == alone.params  # member 0: the base optimizer as configured
    assert result.members[1] != result.members[0]  # member 1: seed + 1, shuffled data
    assert [t.label for t in result.trials] == ["member 0", "member 1"]
    optimizer = make_optimizer("ensemble", {"size": 2})
    boot = make_optimizer("bootstrap", {})
    assert optimizer.estimate_calls(1, 56, 10) == 2 * boot.estimate_calls(1, 56, 10)


# -- reducing -------------------------------------------------------------------------------
class Answer(BaseModel):
    reasoning: str
    label: str
    urgent: bool


def test_majority_of_plain_values_and_ties() -> None:
    assert cl.majority(["a", "b", "b"]) == "b"
    assert cl.majority(["a", "b"]) == "a"  # a tie goes to the earliest member
    assert cl.majority([[1], [2], [1]]) == [1]


def test_majority_votes_each_field_of_structured_outputs() -> None:
    outputs = [
        Answer(reasoning="r0", label="billing", urgent=True),
        Answer(reasoning="r1", label="billing", urgent=False),
        Answer(reasoning="r2", label="bug", urgent=False),
    ]
    # label: billing (2 votes), urgent: false (2 votes); member 1 holds both, unchanged
    assert cl.majority(outputs) is outputs[1]
    mixed = [
        Answer(reasoning="r0", label="billing", urgent=True),
        Answer(reasoning="r1", label="billing", urgent=True),
        Answer(reasoning="r2", label="bug", urgent=False),
        Answer(reasoning="r3", label="tech", urgent=False),
        Answer(reasoning="r4", label="other", urgent=False),
    ]
    # label: billing (2), urgent: false (3); no member has both: the first one agreeing with
    # most votes (member 0) keeps its reasoning and takes the voted urgent
    voted = cl.majority(mixed)
    assert voted == Answer(reasoning="r0", label="billing", urgent=False)
    assert mixed[0].urgent is True  # outputs are not modified
    dicts = [{"a": 1, "b": 2, "c": "x"}, {"a": 1, "b": 3, "c": "y"}, {"a": 2, "b": 3, "c": "z"}]
    assert cl.majority(dicts) == {"a": 1, "b": 3, "c": "y"}


class Pick(cl.Signature):
    text: str = cl.InputField()
    label: Literal["x", "y"] = cl.OutputField()


class Picker(cl.Module):
    def __init__(self) -> None:
        self.pick = cl.Predict(Pick)

    def forward(self, text: str) -> Pick:
        return self.pick(text=text)

    async def aforward(self, text: str) -> Pick:
        return await self.pick.acall(text=text)


class BarrierLM(cl.LM):
    """Answers only once ``parties`` requests wait at once: sequential members would fail."""

    def __init__(self, parties: int) -> None:
        super().__init__("barrier")
        self.barrier = threading.Barrier(parties, timeout=30)
        self.abarrier: asyncio.Barrier | None = None
        self.parties = parties

    def _send(self, request: LMRequest) -> LMResponse:
        self.barrier.wait()
        return LMResponse("[[ ## label ## ]]\nx", self.model)

    async def _asend(self, request: LMRequest) -> LMResponse:
        if self.abarrier is None:
            self.abarrier = asyncio.Barrier(self.parties)
        await asyncio.wait_for(self.abarrier.wait(), timeout=30)
        return LMResponse("[[ ## label ## ]]\ny", self.model)


def ensemble(lm: cl.LM, size: int = 3) -> cl.Ensemble[Picker]:
    members = [Picker() for _ in range(size)]
    for i, member in enumerate(members):
        member.set_lm(lm)
        member.pick.instructions = f"member {i}"
    return cl.Ensemble(members)


def test_members_run_concurrently_in_threads_and_with_asyncio() -> None:
    lm = BarrierLM(3)
    assert ensemble(lm)(text="t").label == "x"
    assert asyncio.run(ensemble(lm).acall(text="t")).label == "y"


class OrderedLM(cl.LM):
    """Member 0's call waits until member 1's has been answered."""

    def __init__(self) -> None:
        super().__init__("ordered")
        self.second_done = threading.Event()

    def _send(self, request: LMRequest) -> LMResponse:
        if "member 0" in request.messages[0]["content"]:
            assert self.second_done.wait(timeout=30)
        else:
            self.second_done.set()
        return LMResponse("[[ ## label ## ]]\nx", self.model)


def test_traces_are_in_member_order_whatever_finishes_first() -> None:
    with cl.trace() as steps:
        ensemble(OrderedLM(), size=2)(text="t")
    assert ["member 0" in s.messages[0]["content"] for s in steps] == [True, False]


def test_a_member_error_is_raised() -> None:
    class Failing(cl.LM):
        def _send(self, request: LMRequest) -> LMResponse:
            raise cl.LMError("down")

    with pytest.raises(cl.LMError, match="down"):
        ensemble(Failing("f"))(text="t")


# -- the reducer option ---------------------------------------------------------------------
def test_reducers_are_functions_of_the_program_or_its_local_modules(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds the program's folder
    (tmp_path / "ens_reducers.py").write_text(
        "def first(outputs: list[object]) -> object:\n    return outputs[0]\n", encoding="utf-8"
    )
    program = tmp_path / "ens_prog.py"
    program.write_text(
        "import castlm as cl\nimport ens_reducers\n\n\nclass P(cl.Module):\n    pass\n\n\n"
        "def vote(outputs: list[object]) -> object:\n    return outputs[-1]\n",
        encoding="utf-8",
    )
    (tmp_path / "ens_other.py").write_text("def f(o: list[object]) -> object: ...\n", "utf-8")
    try:
        cls = import_program(program).P
        assert resolve_reducer("majority", cls) is None
        own = resolve_reducer("ens_prog.py:vote", cls)
        assert own is not None and (own.module, own.name) == ("program", "vote")
        assert own.function([1, 2]) == 2
        local = resolve_reducer("ens_reducers.py:first", cls)
        assert local is not None and (local.module, local.name) == ("ens_reducers", "first")
        with pytest.raises(CompileError, match="did you mean 'vote'"):
            resolve_reducer("ens_prog.py:vot", cls)
        with pytest.raises(CompileError, match="must take one argument"):
            resolve_reducer("ens_prog.py:P", cls)
        with pytest.raises(CompileError, match="neither the program nor a module"):
            resolve_reducer("ens_other.py:f", cls)
        with pytest.raises(CompileError, match=r"file\.py:function"):
            resolve_reducer("vote", cls)
    finally:
        sys.modules.pop("ens_reducers", None)


# -- the emitted package --------------------------------------------------------------------
def test_the_package_holds_every_member_and_runs_without_castlm() -> None:
    packages = built()
    assert packages.mypy.returncode == 0, packages.mypy.stdout
    out = packages.outs["ensemble"]
    init = (out / "ensemble_bot" / "__init__.py").read_text(encoding="utf-8")
    assert "from .program import vote as _reduce" in init
    assert "return _Ensemble(members, reduce=_reduce)" in init
    frozen = (out / "ensemble_bot" / "_frozen.py").read_text(encoding="utf-8")
    assert frozen.count(": PredictorParams(") == 3
    assert "Ensemble: 3 parameter sets" in (out / "README.md").read_text(encoding="utf-8")
    rows = json.loads((out / "castlm-verify.json").read_text(encoding="utf-8"))["rows"][:3]
    result = run_castlm_free("ensemble", [row["inputs"] for row in rows])
    assert result["castlm_modules"] == [] and result["type"] == "Ensemble"
    assert result["loaded"] == [row["prediction"] for row in rows]  # parity with compile time
    assert result["run"] == result["loaded"] == result["arun"]
    assert len(result["messages"]) == 3 * len(rows)
    sent = [m for row in rows for m in (p["messages"] for p in row["prompts"])]
    # each member's prompt (the LM sees them in whatever order the threads reach it)
    assert sorted(map(json.dumps, result["messages"])) == sorted(map(json.dumps, sent))


def test_run_keeps_forwards_types() -> None:
    out = built().outs["ensemble"]
    with imported(out, "ensemble_bot") as package:
        hints = typing.get_type_hints(package.run)
        assert hints["return"] is package.Triage
        assert hints["ticket"] is str
        program = package.load("standin")
        assert isinstance(program, package._runtime.Ensemble)
        assert len(program.members) == 3


def test_majority_votes_the_fields_of_dicts_whatever_their_keys() -> None:
    dicts = [{1: "a", 2: "x"}, {1: "a", 2: "y"}, {1: "b", 2: "y"}]
    assert cl.majority(dicts) == {1: "a", 2: "y"}
