"""Choosing LMs per predictor: configure_lms, its environment variables, per-call overrides."""

from __future__ import annotations

import castlm as cl
import pytest
from castlm import ConfigurationError, FallbackLM, OpenAIChatLM
from castlm.lm._lm_config import env_var
from castlm.testing import ScriptedLM

REPLY = "[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]"


class Question(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Program(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Question)
        self.hops = [cl.Predict(Question), cl.Predict(Question)]

    def forward(self, question: str) -> str:
        self.route(question=question)
        return "".join(h(question=question).answer for h in self.hops)


def make(name: str) -> cl.LM:
    return ScriptedLM(lambda _: REPLY, model=name)


def configure(program: Program, **kwargs: object) -> dict[str, cl.LM | None]:
    return cl.configure_lms(program, make=make, **kwargs)  # type: ignore[arg-type]


def models(chosen: dict[str, cl.LM | None]) -> dict[str, str | None]:
    return {path: lm.model if lm else None for path, lm in chosen.items()}


def test_env_var_names() -> None:
    assert env_var("route") == "CASTLM_MODEL__ROUTE"
    assert env_var("hops.0") == "CASTLM_MODEL__HOPS__0"
    assert env_var("stage_two.inner") == "CASTLM_MODEL__STAGE_TWO__INNER"


def test_environment_beats_arguments_which_beat_the_default() -> None:
    program = Program()
    chosen = configure(
        program,
        default="strong",
        per_predictor={"route": "cheap", "hops.1": "mid"},
        env={"CASTLM_MODEL__HOPS__1": "ops-choice", "UNRELATED": "x"},
    )
    assert models(chosen) == {"route": "cheap", "hops.0": "strong", "hops.1": "ops-choice"}
    assert program.hops[0].lm is not program.route.lm
    assert program(question="?") == "okok"


def test_equal_names_share_one_lm_and_lists_make_fallbacks() -> None:
    program = Program()
    configure(program, default="same", env={"CASTLM_MODEL__ROUTE": "first, second"})
    assert program.hops[0].lm is program.hops[1].lm
    assert isinstance(program.route.lm, FallbackLM)
    assert [lm.model for lm in program.route.lm.lms] == ["first", "second"]


def test_predictors_keep_their_lm_when_nothing_is_chosen() -> None:
    program = Program()
    mine = make("mine")
    program.route.lm = mine
    chosen = configure(program, env={})
    assert chosen == {"route": mine, "hops.0": None, "hops.1": None}


def test_names_become_real_lms_and_lm_objects_pass_through() -> None:
    program = Program()
    obj = make("object")
    chosen = cl.configure_lms(
        program,
        default="openai/gpt-4o-mini",
        per_predictor={"route": obj},
        env={},
        base_url="http://127.0.0.1:9/v1",
    )
    assert chosen["route"] is obj
    hop = chosen["hops.0"]
    assert isinstance(hop, OpenAIChatLM) and hop.base_url == "http://127.0.0.1:9/v1"


def test_unknown_paths_are_errors_and_unknown_variables_warnings() -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'route'"):
        configure(Program(), per_predictor={"rout": "x"}, env={})
    with pytest.warns(UserWarning, match="CASTLM_MODEL__HOP__0 names no predictor"):
        configure(Program(), env={"CASTLM_MODEL__HOP__0": "x"})


def test_override_lm_beats_the_predictors_own_lm_for_one_call() -> None:
    program = Program()
    program.set_lm(make("own"))
    cheap, strong = make("cheap"), make("strong")
    with cl.context(override_lm=strong):
        program(question="?")
    with cl.context(override_lm={program.route: cheap}):
        program(question="?")
    assert len(strong.requests) == 3  # type: ignore[attr-defined]
    assert len(cheap.requests) == 1  # type: ignore[attr-defined]
    assert len(program.hops[0].lm.requests) == 2  # type: ignore[union-attr]  # both hops
