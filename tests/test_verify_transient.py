"""A transient endpoint error during the compile never makes verification fail.

The failed call is not cached, so replaying that dev example would call the LM again (and
get an answer this time): verification leaves such examples out instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from castlm.compiler.cli import EXIT_OK, main
from support.fake_openai import FakeOpenAI, Fault
from support.project import write_project

REPLY = "[[ ## label ## ]]\npositive\n\n[[ ## completed ## ]]"


def _compile(root: Path, server: FakeOpenAI, *flags: str) -> int:
    return main(
        [
            "compile", str(root), "--lm", "openai/m", "--base-url", server.base_url,
            "--threads", "1", "--json", "--lm-setting", "structured_output=off", *flags,
        ]
    )  # fmt: skip


def test_one_failed_call_in_the_compiled_evaluation_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path / "p", optimizer="labeled")
    out = root / "build" / "reviewer"
    with FakeOpenAI(reply=REPLY) as server:
        # 6 baseline calls answer; the first call of the compiled evaluation gets a broken
        # body (the labeled optimizer makes no calls).
        server.fail(*[Fault.none()] * 6, Fault.malformed())
        code = _compile(root, server)
        captured = capsys.readouterr()
        assert code == EXIT_OK, captured.err
        assert len(server.chat_requests) == 12  # the replay called nothing: all cached
        outcome: dict[str, Any] = json.loads(captured.out)
        assert outcome["verified"] is True and outcome["errors"] == 1
        assert any("1 compiled run(s) failed: example 0: LMResponseError" in n
                   for n in outcome["notes"])  # fmt: skip
        rows = json.loads((out / "castlm-verify.json").read_text(encoding="utf-8"))["rows"]
        assert [r["replay"] for r in rows] == [False] + [True] * 5
        assert rows[0]["error"].startswith("LMResponseError")

        # `castlm verify` later leaves the row out too, also with a live endpoint.
        monkeypatch.setenv("CASTLM_BASE_URL", server.base_url)
        assert main(["verify", str(out)]) == EXIT_OK, capsys.readouterr().err
        assert len(server.chat_requests) == 12


def test_a_failed_call_the_program_caught_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The program answers "mixed" when the LM fails; replayed, the call would be made
    again and answer "positive": that example is not replayed either."""
    root = write_project(tmp_path / "p", optimizer="labeled")
    program = root / "program.py"
    program.write_text(
        program.read_text(encoding="utf-8").replace(
            "        return self.classify(review=review)\n",
            "        try:\n"
            "            return self.classify(review=review)\n"
            "        except cl.LMError:\n"
            '            return Sentiment.model_validate({"review": review, "label": "mixed"})\n',
        ),
        encoding="utf-8",
    )
    with FakeOpenAI(reply=REPLY) as server:
        server.fail(*[Fault.none()] * 6, Fault.malformed())
        code = _compile(root, server)
        captured = capsys.readouterr()
        assert code == EXIT_OK, captured.err
        assert len(server.chat_requests) == 12
    outcome = json.loads(captured.out)
    assert outcome["verified"] is True and outcome["errors"] == 0
    verify_file = root / "build" / "reviewer" / "castlm-verify.json"
    rows = json.loads(verify_file.read_text(encoding="utf-8"))["rows"]
    assert [r["replay"] for r in rows] == [False] + [True] * 5
    assert rows[0]["prediction"]["label"] == "mixed" and rows[0]["error"] is None


def _raised_from(cause: BaseException) -> BaseException:
    try:
        raise RuntimeError("the program wrapped it") from cause
    except RuntimeError as exc:
        return exc


def test_endpoint_errors_are_transient_and_program_errors_are_not() -> None:
    from castlm import LMResponseError, LMStatusError, ParseError
    from castlm.compiler.errors import is_transient

    assert is_transient(LMStatusError("server error", status_code=503))
    assert is_transient(_raised_from(LMResponseError("broken body")))
    # The cached reply parses the same way again: not transient.
    assert not is_transient(ParseError("no label", raw="?"))
    assert not is_transient(_raised_from(ValueError("a bug in the program")))
