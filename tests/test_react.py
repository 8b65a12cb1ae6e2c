"""ReAct: the text protocol, native function calling, traces, optimizable predictors, the
stand-in agent, the analyzer's names, and an emitted package that imports its tools."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm.compiler.analyze import analyze_source
from castlm.compiler.config import load_config_file
from castlm.compiler.pipeline import compile_program
from castlm.testing import ScriptedLM, StandInLM
from support.fake_openai import FakeOpenAI, Fault


class QA(cl.Signature):
    """Answer the question."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


def calculator(expression: str) -> float:
    """Evaluate an arithmetic expression such as "2 * (3 + 4)".

    Args:
        expression: the arithmetic expression
    """
    allowed = set("0123456789+-*/(). ")
    if not set(expression) <= allowed:
        raise ValueError(f"not arithmetic: {expression!r}")
    return float(eval(expression, {"__builtins__": {}}))  # test double: input checked above


def step(tool: str, args: dict[str, Any] | str, thought: str = "Next.") -> str:
    text = args if isinstance(args, str) else json.dumps(args)
    return (
        f"[[ ## next_thought ## ]]\n{thought}\n\n[[ ## next_tool_name ## ]]\n{tool}\n\n"
        f"[[ ## next_tool_args ## ]]\n{text}\n\n[[ ## completed ## ]]"
    )


def final(answer: str) -> str:
    return (
        "[[ ## reasoning ## ]]\nFrom the trajectory.\n\n"
        f"[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]"
    )


def agent_with(replies: Sequence[str], **options: Any) -> tuple[cl.ReAct[QA], ScriptedLM]:
    lm = ScriptedLM(replies)
    agent = cl.ReAct(QA, tools=[calculator], **options)
    agent.set_lm(lm)
    return agent, lm


def test_text_protocol_runs_tools_and_extracts_the_answer() -> None:
    agent, lm = agent_with(
        [step("calculator", {"expression": "6*7"}), step("finish", {}), final("42")]
    )
    with cl.trace() as steps:
        result = agent(question="What is 6 times 7?")
    assert isinstance(result, QA)
    assert result.answer == "42"
    assert result.reasoning == "From the trajectory."  # type: ignore[attr-defined]
    assert result.trajectory.splitlines() == [  # type: ignore[attr-defined]
        "thought_0: Next.",
        "tool_name_0: calculator",
        'tool_args_0: {"expression": "6*7"}',
        "observation_0: 42.0",
        "thought_1: Next.",
        "tool_name_1: finish",
        "tool_args_1: {}",
        "observation_1: Completed.",
    ]
    assert [s.predictor for s in steps] == [agent.react, agent.react, agent.extract]
    assert steps[1].inputs["trajectory"].endswith("observation_0: 42.0")
    assert steps[0].outputs["next_tool_name"] == "calculator"
    system = lm.requests[0].messages[0]["content"]
    assert "(1) calculator: Evaluate an arithmetic expression" in system
    assert "(2) finish: Marks the task as complete" in system
    assert '`next_tool_name` (one of: "calculator", "finish")' in system


def test_its_predictors_are_named_and_optimizable() -> None:
    class Program(cl.Module):
        def __init__(self) -> None:
            self.agent = cl.ReAct(QA, tools=[calculator])

        def forward(self, question: str) -> QA:
            return self.agent(question=question)

    program = Program()
    assert [n for n, _ in program.named_predictors()] == ["agent.react", "agent.extract"]
    params = program.get_params()
    program.set_params(
        {"agent.react": cl.PredictorParams("Be brief.", ({"question": "q", "trajectory": ""},))}
    )
    assert program.agent.react.instructions == "Be brief."
    copy = program.deepcopy()
    assert copy.agent.tools["calculator"] is program.agent.tools["calculator"]
    copy.reset_params()
    assert copy.get_params() == params


def test_tool_errors_and_unknown_tools_are_observations() -> None:
    agent, _ = agent_with(
        [
            step("calculator", {"expression": "import os"}),
            step("calculator", '{"expr": "1"}'),
            step("calculator", "not json at all, but one parameter"),
            step("finish", {}),
            final("unknown"),
        ]
    )
    result = agent(question="?")
    trajectory = cl.trajectory_of(result)  # typed str, no plugin needed
    assert trajectory == result.trajectory  # type: ignore[attr-defined]
    assert "observation_0: Error: calculator raised ValueError: not arithmetic: 'import os'" in (
        trajectory
    )
    assert "observation_1: Error: invalid arguments for calculator: expression: Field required" in (
        trajectory
    )
    assert "observation_2: Error: calculator raised ValueError" in trajectory

    native, _ = agent_with([final("x")], native_tools=False)
    toolbox = native.toolbox
    assert toolbox.run("search", "{}").text == (
        "Error: there is no tool 'search'; the tools are calculator, finish"
    )


def test_max_iters_bounds_the_tool_calls() -> None:
    agent, lm = agent_with([step("calculator", {"expression": "1+1"})] * 3 + [final("2")],
                           max_iters=3)  # fmt: skip
    result = agent(question="Add")
    assert result.trajectory.count("tool_name_") == 3  # type: ignore[attr-defined]
    assert len(lm.requests) == 4


def test_an_unreadable_reply_ends_the_loop_and_still_answers() -> None:
    agent, _ = agent_with(["no sections", "still none", final("gave up")])
    result = agent(question="?")
    assert result.answer == "gave up"
    assert "Error: the agent's reply was unreadable" in result.trajectory  # type: ignore[attr-defined]


def test_async_agents_await_async_tools() -> None:
    async def search(query: str) -> str:
        """Search the notes."""
        await asyncio.sleep(0)
        return f"notes about {query}"

    lm = ScriptedLM([step("search", {"query": "owls"}), step("finish", {}), final("owls")])
    agent = cl.ReAct(QA, tools=[search])
    agent.set_lm(lm)
    result = asyncio.run(agent.acall(question="owls?"))
    assert "observation_0: notes about owls" in result.trajectory  # type: ignore[attr-defined]


def test_tool_names_must_be_unique_and_not_finish() -> None:
    def finish() -> str:
        """Clashes."""
        return ""

    with pytest.raises(cl.ConfigurationError, match="'finish' is reserved"):
        cl.ReAct(QA, tools=[finish])
    with pytest.raises(cl.ConfigurationError, match="two tools are named 'calculator'"):
        cl.ReAct(QA, tools=[calculator, calculator])
    with pytest.raises(cl.ConfigurationError, match="adds a field 'trajectory'"):

        class Clash(cl.Signature):
            """x"""

            trajectory: str = cl.InputField()
            answer: str = cl.OutputField()

        cl.ReAct(Clash, tools=[calculator])


# -- native function calling ------------------------------------------------------------------
def completion(*, text: str | None = None, calls: Sequence[tuple[str, Any]] = ()) -> Fault:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(calls)
        ]
    body = {"model": "m", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    return Fault.malformed(json.dumps(body).encode(), status=200)


def test_native_function_calling_sends_tools_and_reads_tool_calls() -> None:
    with FakeOpenAI(reply=final("42")) as server:
        server.fail(
            completion(calls=[("calculator", {"expression": "6*7"})]),
            completion(text="I know it now.", calls=[("finish", {})]),
        )
        lm = cl.OpenAIChatLM(
            "m", base_url=server.base_url, api_key="k", cache=cl.LMCache(), structured_output="off"
        )
        agent = cl.ReAct(QA, tools=[calculator])
        agent.set_lm(lm)
        with cl.trace() as steps:
            result = agent(question="What is 6 times 7?")
        first, second, extract = (r.body for r in server.chat_requests)
        again = agent(question="What is 6 times 7?")  # every answer comes from the cache
        assert len(server.chat_requests) == 3
    assert result.answer == "42" and again.answer == "42"
    assert "observation_0: 42.0" in result.trajectory  # type: ignore[attr-defined]
    names = [t["function"]["name"] for t in first["tools"]]
    assert names == ["calculator", "finish"]
    assert first["tools"][0]["function"]["parameters"]["required"] == ["expression"]
    assert "tools" in second and "tools" not in extract
    assert steps[0].outputs == {
        "next_thought": "I call calculator.",
        "next_tool_name": "calculator",
        "next_tool_args": '{"expression": "6*7"}',
    }
    assert steps[1].outputs["next_thought"] == "I know it now."
    assert steps[0].response.tool_calls[0] == cl.ToolCall(
        "calculator", '{"expression": "6*7"}', "call_0"
    )


def test_an_endpoint_without_function_calling_falls_back_to_text() -> None:
    with FakeOpenAI(reply=[step("finish", {}), final("done")]) as server:
        server.fail(Fault.status_error(400, "tools are not supported by this model"))
        lm = cl.OpenAIChatLM("m", base_url=server.base_url, api_key="k", structured_output="off")
        agent = cl.ReAct(QA, tools=[calculator])
        agent.set_lm(lm)
        assert agent(question="?").answer == "done"
        bodies = [r.body for r in server.chat_requests]
    assert "tools" in bodies[0] and "tools" not in bodies[1]
    assert lm.supports_tools is False


def test_native_tools_can_be_required_or_refused() -> None:
    agent, _ = agent_with([step("finish", {}), final("ok")], native_tools=True)
    with pytest.raises(cl.ConfigurationError, match="does not support native function calling"):
        agent(question="?")


def test_requests_without_tools_keep_their_cache_key() -> None:
    request = cl.LMRequest(model="m", messages=({"role": "user", "content": "hi"},))
    assert "tools" not in request.payload()
    with_tools = cl.LMRequest(model="m", messages=request.messages, tools=({"type": "function"},))
    assert with_tools.cache_key() != request.cache_key()
    # The key of a tool-less request is the hash of exactly the fields it had before tools.
    blob = json.dumps(
        {"ns": "", "rollout": None, **request.payload()},
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    )
    assert request.cache_key() == hashlib.sha256(blob.encode()).hexdigest()


# -- the stand-in -----------------------------------------------------------------------------
def lookup_capital(country: str) -> str:
    """Look up the capital city of a country.

    Args:
        country: the country's name
    """
    return {"Norway": "Oslo", "Kenya": "Nairobi"}[country]


def test_the_stand_in_picks_a_tool_fills_its_arguments_and_finishes() -> None:
    agent = cl.ReAct(QA, tools=[calculator, lookup_capital])
    agent.set_lm(StandInLM())
    math = agent(question="What is 12 * (3 + 4)?")
    assert math.answer == "84.0"
    assert 'tool_args_0: {"expression": "12 * (3 + 4)"}' in math.trajectory  # type: ignore[attr-defined]
    capital = agent(question="What is the capital of Kenya?")
    assert capital.answer == "Nairobi"
    assert 'tool_args_0: {"country": "Kenya"}' in capital.trajectory  # type: ignore[attr-defined]


def test_the_stand_in_follows_a_demonstrated_tool_choice() -> None:
    def measure(item: str) -> str:
        """Weigh something."""
        return f"{item} weighs 3 kg"

    agent = cl.ReAct(QA, tools=[calculator, measure])
    agent.set_lm(StandInLM())
    assert "tool_name_0: calculator" in agent(question="How heavy is a brick?").trajectory  # type: ignore[attr-defined]
    agent.react.demos = [
        {
            "question": "How heavy is a stone?",
            "trajectory": "",
            "next_thought": "Weigh it.",
            "next_tool_name": "measure",
            "next_tool_args": '{"item": "stone"}',
        }
    ]
    result = agent(question="How heavy is a brick?")
    assert "tool_name_0: measure" in result.trajectory  # type: ignore[attr-defined]


# -- the analyzer and the emitted package -----------------------------------------------------
COMPOUNDS = '''
import castlm as cl

class QA(cl.Signature):
    """Answer."""
    question: str = cl.InputField()
    answer: str = cl.OutputField()

def calc(expression: str) -> float:
    """Evaluate."""
    return 0.0

def reward(inputs: dict[str, object], pred: QA) -> float:
    return 1.0

class Inner(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(QA)

    def forward(self, question: str) -> QA:
        return self.step(question=question)

class Program(cl.Module):
    def __init__(self) -> None:
        self.agent = cl.ReAct(QA, tools=[calc], max_iters=3)
        self.pot = cl.ProgramOfThought(QA)
        self.code = cl.CodeAct(QA, tools=[calc])
        self.best = cl.BestOfN(cl.ChainOfThought(QA), N=3, reward_fn=reward, threshold=1.0)
        self.refine = cl.Refine(module=Inner(), N=2, reward_fn=reward, threshold=1.0)
        self.mcc = cl.MultiChainComparison(QA, M=2)
        self.fan = cl.Parallel(cl.Predict(QA))
        self.retrieve = cl.Retrieve(cl.BM25(["a passage"]), k=1)

    def forward(self, question: str) -> QA:
        passages = self.retrieve(question)
        r = self.agent(question=question)
        print(r.trajectory, r.reasoning, self.pot(question=question).code_output)
        print(self.best(question=question).reasoning, self.mcc(question=question).attempts)
        print(self.fan([{"question": question}]), self.refine(question=question), passages)
        return self.code(question=question)
'''


def test_the_analyzer_names_predictors_as_the_runtime_does(tmp_path: Path) -> None:
    program = analyze_source(COMPOUNDS, "program.py")
    assert program.diagnostics == ()
    module = program.module("Program")
    assert module is not None
    namespace: dict[str, Any] = {}
    exec(compile(COMPOUNDS, "program.py", "exec"), namespace)
    runtime = [name for name, _ in namespace["Program"]().named_predictors()]
    assert [p.path for p in module.predictors] == runtime
    assert runtime[:2] == ["agent.react", "agent.extract"]
    assert {c.path for c in module.callables} == {"agent", "pot", "code", "best", "refine", "mcc"}


def test_calls_of_compound_modules_are_checked() -> None:
    bad = COMPOUNDS.replace("self.agent(question=question)", "self.agent(quesion=question)")
    bad = bad.replace("r.trajectory", "r.trajectry").replace(".attempts", ".attempt")
    found = [(d.code, d.message) for d in analyze_source(bad, "program.py").diagnostics]
    assert ("CL201", "unknown input field 'quesion' for signature 'QA'") in found
    assert any(code == "CL203" and "'trajectry'" in message for code, message in found)
    assert any(code == "CL203" and "'attempt'" in message for code, message in found)
    assert len(found) == 3


AGENT_PROGRAM = '''
from __future__ import annotations

import castlm as cl
from tools import double


class QA(cl.Signature):
    """Answer the question."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Agent(cl.Module):
    def __init__(self) -> None:
        self.agent = cl.ReAct(QA, tools=[double], max_iters=2)

    def forward(self, question: str) -> QA:
        return self.agent(question=question)


def exact(example: cl.Example, pred: QA, trace: object = None) -> float:
    return float(pred.answer == example["answer"])
'''

TOOLS = '''
def double(number: float) -> float:
    """Double a number."""
    return number * 2
'''


def test_an_emitted_agent_imports_its_tools_from_the_users_code(tmp_path: Path) -> None:
    root = tmp_path / "agent"
    (root / "data").mkdir(parents=True)
    (root / "program.py").write_text(AGENT_PROGRAM, encoding="utf-8")
    (root / "tools.py").write_text(TOOLS, encoding="utf-8")
    rows = [{"question": f"What is double {n}?", "answer": f"{2 * n:.1f}"} for n in range(6)]
    (root / "data/train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "castlm.toml").write_text(
        'program = "program.py:Agent"\nmetric = "program.py:exact"\n'
        'train = "data/train.jsonl"\ndev_fraction = 0.5\noptimizer = "bootstrap"\n'
        'lm = "standin"\nout = "build/agent"\n'
    )
    (config,) = load_config_file(root / "castlm.toml")
    outcome = compile_program(config, force=True)  # verify: mypy --strict, import, parity
    assert outcome.verified and outcome.compiled == 100.0
    package = root / "build/agent/agent"
    assert (package / "tools.py").is_file()
    assert "from .tools import double" in (package / "program.py").read_text()
