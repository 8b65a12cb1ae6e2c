"""BetterTogether: prompt optimization and fine-tuning alternated, every step scored on the
validation data, the best program kept.

Weight optimization runs against tests/support/fake_finetune.py (a local OpenAI-compatible
fine-tuning API) and TunedStandIn (the stand-in that, asked for a "fine-tuned" model, sees
that model's training pairs as demonstrations): the mechanics are real, the training is not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from castlm import Module
from castlm.compiler.cli import EXIT_OK, main
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from support.fake_finetune import FakeFineTune
from support.ticket_task import write_project
from support.triage_task import RecordingStandIn, triage
from test_optimizer_finetune import FAST, TunedStandIn

TASK = triage()
TRAIN, VAL = TASK.train[:16], TASK.train[16:28]
SMALL_P = {"num_candidate_programs": 1, "max_labeled_demos": 4, "max_bootstrapped_demos": 2}


def run(
    server: FakeFineTune,
    strategy: str = "p -> w -> p",
    teacher_lm: RecordingStandIn | None = None,
    **options: Any,
) -> tuple[OptimizeResult, OptimizeContext, TunedStandIn]:
    lm = TunedStandIn(server)
    evaluator = Evaluator(TASK.metric, TASK.call_args, 4)
    ctx = OptimizeContext(lm, evaluator, TASK.metric, teacher_lm, threads=4)
    settings = {
        "strategy": strategy,
        "prompt_options": SMALL_P,
        "weight_options": {"base_url": server.base_url, **FAST},
        **options,
    }
    optimizer = make_optimizer("better_together", settings)
    result = optimizer.compile(TASK.student(lm), trainset=TRAIN, valset=VAL, ctx=ctx)
    return result, ctx, lm


def score(server: FakeFineTune, params: Any) -> float:
    program: Module = TASK.student(TunedStandIn(server))
    program.set_params(params)
    return Evaluator(TASK.metric, TASK.call_args, 4)(program, VAL).score


def test_each_step_is_scored_on_val_and_the_best_program_is_kept() -> None:
    with FakeFineTune(polls=1) as server:
        result, ctx, _ = run(server)
        (model,) = server.trained
        labels = [t.label for t in result.trials]
        assert labels == ["start (no optimization)", "p", "p -> w", "p -> w -> p"]
        for trial in result.trials:  # each score is the program's, re-scored independently
            assert trial.score == pytest.approx(score(server, trial.params))
        best = max(result.trials, key=lambda t: t.score)
        assert result.params == best.params
        assert best.label != "start (no optimization)"
    _, prompted, tuned, again = result.trials
    assert prompted.params["triage"].model is None and prompted.params["triage"].demos
    assert tuned.params["triage"].model == model  # the weight step trained and set a model
    assert tuned.params["triage"].demos == prompted.params["triage"].demos
    assert again.params["triage"].model == model  # the second prompt step kept it
    assert sorted(result.files) == ["finetune/step2/train.jsonl"]
    assert result.notes[0].startswith("validation scores: start ")
    # the report lists each step's own candidates under the step's name
    assert any(t.label.startswith("step 3 (p): ") for t in ctx.trials)


def test_the_weight_step_learns_from_the_program_as_the_prompt_step_left_it() -> None:
    teacher = RecordingStandIn()
    with FakeFineTune(polls=1) as server:
        boot = {"max_bootstrapped_demos": 2, "max_labeled_demos": 4}
        result, _, _ = run(
            server, "p -> w", teacher, prompt_optimizer="bootstrap", prompt_options=boot
        )
    prompted = result.trials[1].params["triage"]
    tickets = [demo["ticket"] for demo in prompted.demos]
    assert any("reasoning" in demo for demo in prompted.demos)  # bootstrapped demos
    for request in teacher.requests[-len(TRAIN) :]:  # the weight step's teacher runs
        shown = [str(m["content"]) for m in request.messages[1:-1]]
        assert len(shown) in (2 * len(tickets), 2 * len(tickets) - 2)  # not re-primed
        assert all(
            any(t in s for s in shown) for t in tickets if t not in request.messages[-1]["content"]
        )


def test_a_later_weight_step_trains_on_from_the_earlier_model() -> None:
    with FakeFineTune(polls=1) as server:
        result, _, _ = run(server, "w -> w", shuffle_trainset_between_steps=False)
        first, second = server.jobs.values()
    assert first["model"] == "standin"
    assert second["model"] == result.trials[1].params["triage"].model


def test_a_rerun_resumes_from_the_cache_and_the_trained_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p", train=16, dev=4)
    with FakeFineTune(polls=1) as server:
        options = {
            "strategy": "p -> w -> p",
            "prompt_options": SMALL_P,
            "weight_options": {"base_url": server.base_url, **FAST},
        }
        args = ["compile", str(root), "--optimizer", "better_together", "--json", "--force"]
        args += [f"--option={key}={json.dumps(value)}" for key, value in options.items()]
        assert main(args) == EXIT_OK
        first = json.loads(capsys.readouterr().out)
        assert main(args) == EXIT_OK
        again = json.loads(capsys.readouterr().out)
        jobs = len(server.jobs)
    assert jobs == 1  # the second compile reused the trained model
    optimize = next(p for p in again["phases"] if p["name"] == "optimize")
    assert optimize["calls"] == 0 and optimize["cache_hits"] > 0
    assert again["scores"] == first["scores"]
    plan = next(p for p in first["plan"]["phases"] if p["name"] == "optimize")
    assert plan["calls"] >= next(p for p in first["phases"] if p["name"] == "optimize")["calls"]


def test_the_estimate_adds_the_steps_and_one_validation_run_per_program() -> None:
    optimizer = make_optimizer("better_together", {"prompt_options": SMALL_P})
    prompt = make_optimizer("random_search", SMALL_P).estimate_calls(2, 30, 10)
    weight = make_optimizer("finetune", {}).estimate_calls(2, 30, 10)
    assert optimizer.estimate_calls(2, 30, 10) == 2 * prompt + weight + 4 * 10 * 2
    assert optimizer.estimate_demos() == 4
    assert make_optimizer("better_together", {"strategy": "w"}).estimate_demos() == 0


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"strategy": "p -> x"}, "steps p (prompt optimization) and w (fine-tuning)"),
        ({"strategy": "p => w"}, "separated by '->'"),
        ({"prompt_options": {"num_candidates": 2}}, "did you mean 'num_candidate_programs'"),
        (
            {"prompt_optimizer": "bootstrap", "prompt_options": {"num_candidate_programs": 2}},
            "'bootstrap' has no option 'num_candidate_programs'",
        ),
        ({"weight_options": {"job_id": "ftjob-1"}}, "job_id is not taken here"),
        ({"prompt_optimizer": "mipro"}, "prompt_optimizer"),
    ],
)
def test_bad_settings_are_refused_before_anything_runs(options: dict[str, Any], said: str) -> None:
    with pytest.raises(CompileError, match="optimizer 'better_together' option") as raised:
        make_optimizer("better_together", options)
    assert said in str(raised.value)


@pytest.mark.parametrize(
    ("optimizer", "options"),
    [("labeled", {"k": 2}), ("bootstrap", {"max_labeled_demos": 4}), ("random_search", SMALL_P)],
)
def test_prompt_optimizers_keep_a_predictors_fine_tuned_model(
    optimizer: str, options: dict[str, Any]
) -> None:
    lm = RecordingStandIn()
    student = TASK.student(lm)
    student.predictor("triage").model = "ft:tuned"
    ctx = OptimizeContext(lm, Evaluator(TASK.metric, TASK.call_args, 4), TASK.metric, threads=4)
    result = make_optimizer(optimizer, options).compile(
        student, trainset=TRAIN, valset=VAL, ctx=ctx
    )
    assert result.params["triage"].model == "ft:tuned"
    if optimizer != "labeled":  # its runs (teacher and candidates) asked for that model
        assert lm.requests and {r.model for r in lm.requests} == {"ft:tuned"}


def test_a_teacher_lm_answers_as_its_own_model() -> None:
    lm, teacher = RecordingStandIn(), RecordingStandIn()
    student = TASK.student(lm)
    student.predictor("triage").model = "ft:tuned"
    ctx = OptimizeContext(
        lm, Evaluator(TASK.metric, TASK.call_args, 4), TASK.metric, teacher, threads=4
    )
    make_optimizer("bootstrap", {}).compile(student, trainset=TRAIN, valset=VAL, ctx=ctx)
    assert teacher.requests and {r.model for r in teacher.requests} == {teacher.model}


def test_a_budget_stop_keeps_the_best_candidate_any_step_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p", train=16, dev=4)
    with FakeFineTune(polls=1) as server:
        weight = json.dumps({"base_url": server.base_url, **FAST})
        args = ["compile", str(root), "--optimizer", "better_together", "--json", "--no-cache"]
        args += ["--option", 'prompt_options={"num_candidate_programs": 1}']
        args += ["--option", f"weight_options={weight}", "--max-lm-calls", "140"]
        assert main(args) == EXIT_OK
    stopped = json.loads(capsys.readouterr().out)["stopped"]
    assert "emitted the best candidate so far (step 1 (p): " in stopped
