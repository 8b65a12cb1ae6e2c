"""Smoke tests of the benchmark harness (benchmarks/): its pure functions, never timings."""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import castlm as cl
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import latency_server  # noqa: E402


def test_rows_judge_their_targets() -> None:
    assert harness.at_most_fraction("import", 100, 500, "ms", 0.25).ok is True
    assert harness.at_most_fraction("import", 200, 500, "ms", 0.25).ok is False
    assert harness.at_least_times_less("call", 20, 300, "µs", 10).ok is True
    assert harness.at_least_times_less("call", 40, 300, "µs", 10).ok is False
    high = harness.at_least_as_high("rate", 900, 300, "req/s")
    assert high.ok is True
    assert high.ratio == pytest.approx(3.0)


def test_table_and_results_markdown() -> None:
    rows = [
        harness.at_most_fraction("cold import", 150, 600, "ms", 0.25),
        harness.Row("mipro: calls", None, 400, "calls", None, "", "", None, "not available yet"),
    ]
    text = harness.table(rows)
    assert (
        "| cold import | 150 ms | 600 ms | 0.25 (castlm/DSPy) | castlm ≤ 1/4 of DSPy | pass |"
        in (text)
    )
    assert "not available yet" in text
    result = harness.Result("Cold import", rows, "details here")
    when = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC)
    page = harness.results_markdown([result], {"CPU": "x"}, {"castlm": "0.1.0"}, 61.0, when)
    assert "2026-01-02 03:04 UTC" in page
    assert "| CPU | x |" in page and "| castlm | 0.1.0 |" in page
    assert "## Cold import" in page and "details here" in page


def test_updated_results_replaces_only_the_rerun_benchmarks() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC)
    old = [
        harness.Result(
            "Cold import",
            [harness.at_most_fraction("cold import", 150, 600, "ms", 0.25)],
            "import text",
        ),
        harness.Result(
            "Async throughput", [harness.at_least_as_high("arun", 100, 300, "req/s")], "old async"
        ),
        harness.Result(
            "Footprint", [harness.at_most_fraction("size", 10, 300, "MiB", 0.1)], "size text"
        ),
    ]
    page = harness.results_markdown(old, {"CPU": "x"}, {"castlm": "0.1.0"}, 61.0, when)
    assert "2 of 3 rows meet their target; misses: arun." in page
    rerun = harness.Result(
        "Async throughput",
        [
            harness.at_least_as_high("arun", 900, 300, "req/s"),
            harness.at_least_as_high("abatch", 200, 300, "req/s"),
        ],
        "new async",
        seconds=42,
    )
    later = datetime.datetime(2026, 1, 3, 0, 0, tzinfo=datetime.UTC)
    text = harness.updated_results(page, [("async", rerun)], later)
    assert "| arun | 900 req/s |" in text and "| arun | 100 req/s |" not in text
    assert "| abatch | 200 req/s |" in text
    assert "3 of 4 rows meet their target; misses: abatch." in text
    assert "new async" in text and "old async" not in text
    assert "import text" in text and "size text" in text  # the other sections stay
    assert (
        "Updated on 2026-01-03 00:00 UTC by `python benchmarks/run.py --only async --update`"
        in text
    )
    assert text.index("## Async throughput") < text.index("## Footprint")


def test_median_and_interleaving() -> None:
    assert harness.median([3.0, 1.0, 2.0]) == 2.0
    order: list[str] = []

    def sampler(name: str) -> Callable[[], float]:
        def sample() -> float:
            order.append(name)
            return 1.0

        return sample

    samples = harness.interleaved({"a": sampler("a"), "b": sampler("b")}, rounds=2, warmup=1)
    assert order == ["a", "b", "a", "b", "a", "b"]
    assert samples == {"a": [1.0, 1.0], "b": [1.0, 1.0]}


def test_machine_info_names_the_essentials() -> None:
    info = harness.machine()
    assert set(info) == {"CPU", "cores", "RAM", "OS", "Python"}


class Classify(cl.Signature):
    """Classify a support ticket."""

    ticket: str = cl.InputField()
    category: Literal["billing", "bug", "account", "feature_request", "other"] = cl.OutputField()


@pytest.mark.parametrize("adapter", ["chat", "json"])
@pytest.mark.parametrize("predictor", [cl.Predict, cl.ChainOfThought])
def test_server_replies_parse_in_castlm(
    predictor: type[cl.Predict[Classify]], adapter: Literal["chat", "json"]
) -> None:
    # castlm's JSON adapter states the reply format in the system message only: a server that
    # read only the last user message answered nonsense, and every call then took a second
    # round trip (a format retry), halving castlm's measured async throughput.
    p = predictor(Classify, adapter=adapter)
    messages = [dict(m) for m in p.messages(ticket="Please refund the double charge.")]
    reply = latency_server.answer(messages)
    assert p.adapter.parse(p.spec, reply)["category"] == "billing"


def test_server_reads_dspy_prompts() -> None:
    # The closing sentence of DSPy 3.4's ChatAdapter and JSONAdapter user messages.
    chat = (
        "[[ ## ticket ## ]]\nI cannot log in\n\nRespond with the corresponding output fields, "
        "starting with the field `[[ ## reasoning ## ]]`, then `[[ ## category ## ]]` (must be "
        "formatted as a valid Python Literal['billing', 'bug']), and then ending with the "
        "marker for `[[ ## completed ## ]]`."
    )
    reply = latency_server.answer([{"role": "user", "content": chat}])
    assert reply.endswith("[[ ## category ## ]]\naccount\n\n[[ ## completed ## ]]")
    as_json = (
        "[[ ## ticket ## ]]\nThe app crashes\n\nRespond with a JSON object in the following "
        "order of fields: `reasoning`, then `category` (must be formatted as a valid Python "
        "Literal['billing', 'bug'])."
    )
    data = json.loads(latency_server.answer([{"role": "user", "content": as_json}]))
    assert data["category"] == "bug" and set(data) == {"reasoning", "category"}


def test_server_counts_calls_per_model() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}
    out = latency_server.completion(body)
    assert [c["index"] for c in out["choices"]] == [0, 1]
    assert out["usage"]["total_tokens"] >= 0


def test_code_only_drops_docstrings_comments_and_blank_lines_but_keeps_pragmas() -> None:
    import runtime_size

    source = (
        '"""The module."""\n'
        "\n"
        "import os  # why os\n"
        "# a whole-line comment\n"
        "x: int = os.sep  # type: ignore[assignment]\n"
        "\n"
        "class C:\n"
        '    """Docs,\n    on two lines."""\n'
        "\n"
        "    y = '# not a comment'\n"
        "\n"
        "def f() -> None:\n"
        '    """Only a docstring: the body, so it stays."""\n'
    )
    assert runtime_size.code_only(source) == (
        "import os\n"
        "x: int = os.sep  # type: ignore[assignment]\n"
        "class C:\n"
        "    y = '# not a comment'\n"
        "def f() -> None:\n"
        '    """Only a docstring: the body, so it stays."""\n'
    )


def test_runtime_size_weighs_a_vendored_runtime_by_job(tmp_path: Path) -> None:
    import runtime_size

    runtime = tmp_path / "_runtime"
    for path, text in {
        "__init__.py": '"""Names."""\nfrom .core import _predict\n',
        "core/_predict.py": "# c\nP = 1\n",
        "lm/_openai.py": "O = 2\n",
        "testing/_standin.py": "S = 3\n",
        "agents/_react.py": "R = 4\n",
    }.items():
        (runtime / path).parent.mkdir(parents=True, exist_ok=True)
        (runtime / path).write_text(text, encoding="utf-8")
    weights = {w.group.split(":")[0]: w for w in runtime_size.weigh(runtime)}
    assert weights["typed program"].files == 2
    assert weights["typed program"].code == len("from .core import _predict\nP = 1\n")
    assert weights["one OpenAI-compatible LM"].code == len("O = 2\n")
    assert weights["offline stand-in (testing/)"].files == 1
    assert weights[runtime_size.OTHER.split(":")[0]].files == 1
    table = runtime_size.markdown(list(weights.values()))
    assert table.splitlines()[-1].startswith("| all | | 5 |")


def test_every_runtime_module_has_a_size_group_or_is_optional() -> None:
    """A new runtime module lands in a named group, or among the parts only some programs
    vendor; a typo in GROUPS (a path that no longer exists) fails here."""
    import runtime_size

    root = Path(cl.__file__).parent
    present = {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    named = {m for _, _, members in runtime_size.GROUPS for m in members if not m.endswith("/")}
    assert named <= present, sorted(named - present)
