"""report.md / report.svg: contents, and escaping of everything that comes from data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from castlm import Example, PredictorParams
from castlm.compiler.compile_report import ReportInputs, fenced, inline, render_report
from castlm.compiler.config import load_config_file
from castlm.compiler.evaluate import EvalResult, ExampleResult
from castlm.compiler.meter import PhaseStats, role_lms
from castlm.compiler.optimizers import Trial, make_optimizer
from castlm.compiler.pipeline import compile_program
from castlm.compiler.plan import Plan, PlanInputs, Probe, make_plan
from castlm.compiler.pricing import PriceBook
from castlm.compiler.svg_chart import score_chart
from castlm.testing import StandInLM
from support.project import write_project

EVIL = "a|b `code` *bold* [x](javascript:alert(1)) <script>alert(1)</script> & \\ ~~s~~\nnext"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_inline_text_is_one_safe_line() -> None:
    text = inline(EVIL, None)
    assert "\n" not in text and "<script>" not in text and "&lt;script&gt;" in text
    assert not UNESCAPED_PIPE.search(text)
    assert "\\`code\\`" in text and "\\*bold\\*" in text and "\\[x\\]" in text
    assert "&amp;" in text and "\\\\" in text
    assert inline("x" * 100, 10) == "x" * 9 + "…"


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    block = fenced("before\n````\ninside\n```", "text")
    lines = block.splitlines()
    assert lines[0] == "`````text" and lines[-1] == "`````"
    assert fenced("plain").startswith("```text\n")


def plan() -> Plan:
    inputs = PlanInputs(1, 2, 2, 2, (0.0, 0.0), (0.0, 0.0), cache=True, verify=False)
    return make_plan(Probe(1, 1.0, 100, 10, 20, "test"), make_optimizer("labeled", {}), inputs)


def evil_inputs(trials: list[Trial]) -> ReportInputs:
    examples = [
        Example(review=EVIL, label="positive").with_inputs("review"),
        Example(review="fine | ok", label="negative").with_inputs("review"),
    ]
    baseline = EvalResult(
        (
            ExampleResult(0, examples[0], None, 0.0, "ParseError: <b>bad</b> | reply"),
            ExampleResult(1, examples[1], None, 1.0),
        )
    )
    compiled = EvalResult(
        (ExampleResult(0, examples[0], None, 1.0), ExampleResult(1, examples[1], None, 0.0))
    )
    params = {
        "classify": PredictorParams(
            "Rules:\n```\n# not a heading\n<img src=x onerror=alert(1)>", ({"review": EVIL},)
        )
    }
    lms = role_lms({"task": ("stand|in <b>", StandInLM())}, PriceBook())
    return ReportInputs(
        program="Evil<Program>",
        metric="m|x",
        optimizer={"name": "opt<script>", "settings": {"k": "`|`"}},
        lms=lms,
        original={"classify": PredictorParams("Classify.")},
        params=params,
        trials=trials,
        baseline=baseline,
        compiled=compiled,
        phases=[PhaseStats("baseline", 2, 0, 30, 0.1, 20, 10, 0.0)],
        plan=plan(),
        stopped="stopped: budget <reached> | here",
        notes=["note with <tags> and | pipes"],
    )


def test_the_markdown_report_escapes_data() -> None:
    trials = [Trial("</title><script>x</script>", 40.0), Trial("k=2 | best", 75.0)]
    md = render_report(evil_inputs(trials))["report.md"].decode()
    outside_fences = re.sub(r"(`{3,})[a-z]*\n.*?\n\1", "", md, flags=re.S)
    for raw in ("<script", "<img", "<b>", "<Program>", "<reached>", "<tags>"):
        assert raw not in outside_fences, raw
    for line in md.splitlines():
        if line.startswith("| ") and "---" not in line:
            columns = len(UNESCAPED_PIPE.findall(line)) - 1
            header = {3, 6, 9}
            assert columns in header, line
    # The instruction sits in a fence its own backticks cannot close.
    assert "````text\nRules:\n```\n# not a heading\n<img src=x onerror=alert(1)>\n````" in md
    assert "k=2 \\| best **(best)**" in md and "1 better, 1 worse, 2 in all" in md
    assert "![scores](report.svg)" in md


def test_the_svg_is_well_formed_and_escapes_labels() -> None:
    trials = [Trial("</title><script>x</script>", 40.0), Trial("b & c", 75.0)]
    svg = render_report(evil_inputs(trials))["report.svg"].decode()
    root = ET.fromstring(svg)
    tags = {element.tag.split("}")[-1] for element in root.iter()}
    assert "script" not in tags and {"polyline", "circle"} <= tags
    titles = [e.text for e in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "</title><script>x</script>: 40.0" in titles and "b & c: 75.0" in titles


@pytest.mark.parametrize(
    "trials", [[], [("only", 50.0)], [("nan", float("nan")), ("x", 250.0), ("y", -3.0)]]
)
def test_the_chart_handles_few_and_odd_scores(trials: list[tuple[str, float]]) -> None:
    svg = score_chart(trials, 40.0, float("nan"), "t<>")
    ET.fromstring(svg)
    assert ("scored no candidates" in svg) == (not [s for _, s in trials if s == s])


def test_a_compile_writes_the_report_beside_the_package(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", optimizer="random_search")
    (config,) = load_config_file(root / "castlm.toml", {"verify": False})
    outcome = compile_program(config, force=True)
    out = root / "build/reviewer"
    md = (out / "report.md").read_text()
    assert outcome.report == str(out / "report.md")
    assert md.count("| zero-shot") == 1 and "## Emitted parameters" in md
    assert "| baseline | all | 6 | 6 | 0 |" in md
    ET.fromstring((out / "report.svg").read_text())
    manifest = json.loads((out / "reviewer/manifest.json").read_text())
    assert manifest["report"] == ["report.md", "report.svg"]


def test_a_lone_surrogate_from_a_program_is_shown_escaped() -> None:
    inputs = evil_inputs([Trial("lone \ud800", 50.0)])
    params = {"classify": PredictorParams("Answer \udfff.")}
    files = render_report(replace(inputs, params=params))
    assert "Answer \\udfff." in files["report.md"].decode("utf-8")
    assert "lone \\ud800" in files["report.svg"].decode("utf-8")


def test_image_demos_and_inputs_show_without_their_base64() -> None:
    from castlm import Image

    image = Image.from_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 3000)
    shown = f"<image/png, 2.9 KiB, sha256={image.digest[:12]}>"
    demo = {"review": "look", "photos": [image.url], "label": "positive"}
    inputs = replace(
        evil_inputs([Trial("a", 1.0)]),
        params={"classify": PredictorParams("Classify.", (demo,))},
    )
    md = render_report(inputs)["report.md"].decode()
    assert image.url[22:80] not in md  # none of the base64
    assert f'"photos": [\n    "{shown}"\n  ]' in md  # the demo, in its JSON fence
    assert inline(image.url) == inline(shown)  # a table cell
