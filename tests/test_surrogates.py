"""Lone surrogates (``"\\ud800"`` in JSON) in data, inputs and LM replies: each is a named,
typed error where it comes in, never a bare UnicodeEncodeError from deep inside."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import castlm as cl
import pytest
from castlm import InputError, LMCache, LMResponseError
from castlm.compiler.cli import EXIT_USER, main
from castlm.compiler.verify_run import verify_data
from castlm.lm._lm import Message
from castlm.testing import ScriptedLM
from support.project import write_project

LONE = "bad \ud800 text"


class Ask(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


def _reply(messages: Sequence[Message]) -> str:
    return f"[[ ## answer ## ]]\n{LONE}\n\n[[ ## completed ## ]]"


def test_an_input_with_a_lone_surrogate_is_an_input_error() -> None:
    predict = cl.Predict(Ask, lm=ScriptedLM(lambda m: "[[ ## answer ## ]]\nok"))
    with pytest.raises(InputError, match=r"input 'question' holds a lone surrogate \('\\ud800'"):
        predict(question=LONE)


def test_a_reply_with_a_lone_surrogate_is_a_response_error_and_is_not_cached(
    tmp_path: Path,
) -> None:
    cache = LMCache(tmp_path / "cache.sqlite")
    lm = ScriptedLM(_reply, cache=cache)
    predict = cl.Predict(Ask, lm=lm)
    for _ in range(2):  # not cached: the second call asks again
        with pytest.raises(LMResponseError, match="the reply holds a lone surrogate"):
            predict(question="q")
    assert lm.stats.calls == 2 and lm.stats.cache_hits == 0


def test_a_dataset_row_with_a_lone_surrogate_stops_the_compile_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p")
    with (root / "data" / "dev.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"review": "bad \\ud800 text", "label": "mixed"}\n')
    assert main(["compile", str(root)]) == EXIT_USER
    err = capsys.readouterr().err
    assert f"{root / 'data' / 'dev.jsonl'}:7: field 'review' holds a lone surrogate" in err
    assert "plan for" not in err and not (root / "build").exists()


def test_verification_data_with_a_lone_surrogate_is_written() -> None:
    rows = [{"inputs": {"review": "x"}, "prediction": {"label": LONE}, "prompts": []}]
    assert json.loads(verify_data(rows))["rows"] == rows


def test_surrogates_are_found_under_any_mapping_key_and_in_pydantic_dataclasses() -> None:
    from castlm.base._unicode import surrogate_in
    from pydantic.dataclasses import dataclass

    @dataclass
    class Note:
        text: str

    assert surrogate_in({1: ["ok", "bad \ud800"]}) is not None  # keys need not be strings
    assert surrogate_in((Note("fine"), Note("bad \udfff"))) is not None
    assert surrogate_in({1: ["ok"], "k": Note("fine")}) is None
