"""verify_package: mypy, a castlm-free import, and prompt/prediction parity with compile time."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from castlm.compiler import verify
from castlm.compiler.verify import (
    ExpectedCall,
    PromptRecord,
    VerifyReport,
    record_expected,
    verify_package,
)
from castlm.lm._cache import LMCache
from castlm.testing import StandInLM
from test_emit_support import DEV_INPUTS, PARAMS, emit, request_for, user_program, write_sources

PACKAGE = "support_pkg"


class Built:
    """One emitted package, the compile's cache and what the program did in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        program = write_sources(root / "src")
        self.out = emit(request_for(program, PACKAGE), root / "out")
        self.cache_dir = root / ".castlm"
        self.mypy_cache = root / "mypy-cache"
        with user_program(program) as module:
            support = module.Support()
            support.set_params(PARAMS)
            support.set_lm(StandInLM(cache=LMCache(self.cache_dir / "cache.sqlite")))
            self.expected = [record_expected(support, inputs) for inputs in DEV_INPUTS]

    def copy(self, name: str) -> Path:
        """A copy of the package to tamper with."""
        return Path(shutil.copytree(self.out, self.root / name))

    def verify(self, out: Path | None = None, **overrides: Any) -> VerifyReport:
        arguments: dict[str, Any] = {
            "dev_inputs": DEV_INPUTS,
            "expected": self.expected,
            "lm_name": "standin",
            "cache_dir": None,
            "mypy_cache_dir": self.mypy_cache,
            **overrides,
        }
        return verify_package(out or self.out, PACKAGE, **arguments)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(tmp_path_factory.mktemp("verify"))


def test_a_clean_package_passes_from_the_compile_cache(built: Built) -> None:
    report = built.verify(cache_dir=built.cache_dir)
    assert report.ok, report
    assert report.mypy_errors == () and report.import_error is None and report.mismatches == ()
    assert report.predictions == tuple(e.prediction for e in built.expected)
    assert report.predictions[0]["reply"]
    # 2 inputs x 2 predictors, through run and through arun
    assert report.lm_stats == {"calls": 0, "cache_hits": 8}
    assert set(report.timings) == {"mypy_s", "import_s", "parity_s", "total_s"}
    assert not list(built.out.rglob("__pycache__"))  # the replay left the output clean


def test_the_recorded_prompts_name_each_predictor(built: Built) -> None:
    first = built.expected[0]
    assert [p.predictor for p in first.prompts] == ["triage", "draft"]
    assert first.prompts[0].messages[0]["role"] == "system"
    assert first.error is None


def test_a_tampered_frozen_file_reports_the_prompt_that_changed(built: Built) -> None:
    out = built.copy("tampered")
    frozen = out / PACKAGE / "_frozen.py"
    text = frozen.read_text(encoding="utf-8")
    frozen.write_text(text.replace("the rest is low.", "the rest is LOW."), encoding="utf-8")
    report = built.verify(out)
    assert not report.ok
    assert report.mypy_errors == () and report.import_error is None
    prompts = [m for m in report.mismatches if m.kind == "prompt"]
    assert [(m.example, m.predictor) for m in prompts] == [(0, "triage"), (1, "triage")]
    assert "message 0 (system)" in prompts[0].detail
    assert "LOW" in prompts[0].detail and "low" in prompts[0].detail
    assert str(prompts[0]).startswith("dev example 0 (triage): call 0: message 0 (system)")


def test_an_arun_that_strays_from_run_is_a_mismatch(built: Built) -> None:
    out = built.copy("async_strays")
    program = out / PACKAGE / "program.py"
    text = program.read_text(encoding="utf-8")
    twin = "await _castlm_acall(self.draft, ticket=text, urgency=triage.urgency)"
    assert twin in text  # the twin the compiler wrote
    program.write_text(text.replace(twin, twin.replace("ticket=text", "ticket=text + '!'")))
    report = built.verify(out)
    assert not report.ok
    details = [str(m) for m in report.mismatches]
    assert details and all("arun: " in d for d in details), details
    assert any(d.startswith("dev example 0 (draft): arun: ") for d in details), details


USAGE = """\
import asyncio
from typing import assert_type

from . import Channel, Customer, Reply, arun, run

assert_type(run(ticket="x"), Reply)
assert_type(run(ticket="x", customer=None, channel=Channel.CHAT, lang="fr"), Reply)
assert_type(asyncio.run(arun(ticket="x")), Reply)
customer = Customer.model_validate({"name": "A", "address": {"city": "B"}})
assert_type(run(ticket="x", customer=customer).reply, str)
run(ticket="x", lang="de")
"""


def test_the_entry_points_are_typed_for_mypy_and_misuse_is_reported(built: Built) -> None:
    out = built.copy("misused")
    (out / PACKAGE / "_usage.py").write_text(USAGE, encoding="utf-8")
    report = built.verify(out, dev_inputs=[], expected=None)
    assert not report.ok
    [error] = report.mypy_errors  # the assert_type lines hold: run is typed like forward
    assert "_usage.py:11:" in error and "[arg-type]" in error and "Literal['de']" in error
    assert report.import_error is None


def test_an_import_of_castlm_is_caught_even_though_it_type_checks(built: Built) -> None:
    out = built.copy("leaky")
    program = out / PACKAGE / "program.py"
    program.write_text(
        program.read_text(encoding="utf-8") + "\nimport castlm  # noqa: E402,F401\n",
        encoding="utf-8",
    )
    report = built.verify(out)
    assert not report.ok
    assert report.import_error is not None
    assert "castlm is not importable here" in report.import_error
    assert report.mismatches == () and report.predictions == ()


def test_a_package_that_raises_is_reported_without_expectations(built: Built) -> None:
    report = built.verify(dev_inputs=[{"ticket": "fine"}, {"no_such_input": 1}], expected=None)
    assert not report.ok
    [mismatch] = report.mismatches
    assert (mismatch.example, mismatch.kind) == (1, "error")
    assert "TypeError" in mismatch.detail
    assert report.predictions[1] is None and report.predictions[0] is not None


def test_expectations_must_match_the_inputs(built: Built) -> None:
    with pytest.raises(ValueError, match="1 expected calls for 2 dev inputs"):
        built.verify(expected=built.expected[:1])


# -- the comparison alone ----------------------------------------------------------------
def _expected(prediction: Any, *contents: str, error: str | None = None) -> ExpectedCall:
    prompts = tuple(PromptRecord("p", ({"role": "system", "content": c},)) for c in contents)
    return ExpectedCall(prediction, prompts, error)


def _run(prediction: Any, *contents: str, error: str | None = None) -> dict[str, Any]:
    prompts = [{"predictor": "p", "messages": [{"role": "system", "content": c}]} for c in contents]
    failure = {"type": error, "message": "boom"} if error else None
    return {"prediction": prediction, "prompts": prompts, "error": failure}


def test_comparison_reports_each_kind_of_difference() -> None:
    expected = [
        _expected({"a": 1}, "same"),
        _expected({"a": 1}, "same", "second"),
        _expected({"a": 1}, "abcdef"),
        _expected(None, "same", error="ParseError: the reply is not JSON"),
        _expected({"a": 1}, "same"),
    ]
    runs = [
        _run({"a": 2}, "same"),
        _run({"a": 1}, "same"),
        _run({"a": 1}, "abcXef"),
        _run(None, "same", error="ParseError"),
        _run(None, "same", error="LMTimeoutError"),
    ]
    found = verify._compare(expected, runs)
    assert [(m.example, m.kind) for m in found] == [
        (0, "prediction"),
        (1, "calls"),
        (2, "prompt"),
        (4, "error"),
    ]
    assert "differs at character 3" in found[2].detail
    assert "made 1 predictor calls, in-process 2" in found[1].detail


def test_running_out_of_time_is_a_failure_not_a_hang(built: Built) -> None:
    report = built.verify(timeout_s=0.01)
    assert not report.ok
    assert report.mypy_errors == ("mypy did not finish before the verify timeout",)
    assert report.import_error == "the replay did not finish before the verify timeout"
