"""BootstrapFinetune: training data from successful runs, a fine-tuning job, the new model used."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import castlm as cl
import pytest
from castlm import LMRequest, LMResponse
from castlm.compiler.cli import main
from castlm.compiler.errors import CompileError
from castlm.compiler.evaluate import Evaluator
from castlm.compiler.optimizers import OptimizeContext, OptimizeResult, make_optimizer
from castlm.compiler.optimizers.finetune_api import FineTuneError
from castlm.testing import ScriptedLM, StandInLM
from support.fake_finetune import FakeFineTune
from support.fake_openai import free_port
from support.optimizer_packages import built, run_castlm_free
from support.triage_task import triage
from test_optimizers import TRAIN, Program, metric, model

FAST = {"poll_interval": 0.001, "max_poll_interval": 0.01}


class TunedStandIn(StandInLM):
    """The stand-in model, plus the models the fake API trained: asked for one of those, the
    stand-in sees that model's training pairs as demonstrations, as if it had learned them."""

    def __init__(self, server: FakeFineTune) -> None:
        super().__init__()
        self.server = server
        self.requests: list[LMRequest] = []

    def _send(self, request: LMRequest) -> LMResponse:
        self.requests.append(request)
        records = self.server.trained.get(request.model)
        if records:
            system, *rest = request.messages
            learned = [m for record in records for m in record["messages"][1:]]
            request = replace(request, messages=(system, *learned, *rest))
        return super()._send(request)


def compile_triage(
    server: FakeFineTune | None, work_dir: Path | None = None, **options: Any
) -> tuple[OptimizeResult, TunedStandIn]:
    task = triage()
    lm = TunedStandIn(server or FakeFineTune())
    ctx = OptimizeContext(
        lm, Evaluator(task.metric, task.call_args, 4), task.metric, StandInLM(), threads=4
    )
    ctx.work_dir = work_dir
    base_url = server.base_url if server else f"http://127.0.0.1:{free_port()}/v1"
    settings = {"base_url": base_url, **FAST, **options}
    optimizer = make_optimizer("finetune", settings)
    return optimizer.compile(task.student(lm), trainset=task.train, valset=task.train, ctx=ctx), lm


def records(result: OptimizeResult, path: str = "finetune/train.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.files[path].decode("utf-8").splitlines()]


# -- training and using the model -----------------------------------------------------------
def test_the_fine_tuned_model_is_used_and_beats_zero_shot_on_held_out_dev() -> None:
    task = triage()
    with FakeFineTune(polls=3) as server:
        result, lm = compile_triage(server)
        (model_id,) = server.trained
        assert result.params["triage"].model == model_id
        job = next(iter(server.jobs.values()))
        assert job["model"] == "standin" and job["suffix"] == "castlm"  # the task LM's model
        evaluator = Evaluator(task.metric, task.call_args, 4)
        zero_shot = evaluator(task.student(TunedStandIn(server)), task.dev).score
        lm.requests.clear()
        tuned = evaluator(result.program(task.student(lm)), task.dev).score
        assert tuned > zero_shot + 15  # the model learned from 53 training runs
        assert {r.model for r in lm.requests} == {model_id}
    assert any("trained" in note and model_id in note for note in result.notes)


def test_each_training_line_is_exactly_what_the_emitted_predictor_sends() -> None:
    with FakeFineTune(polls=1) as server:
        result, _ = compile_triage(server)
    lines = result.files["finetune/train.jsonl"].decode("utf-8").splitlines()
    task = triage()
    recorder = ScriptedLM(lambda messages: "")  # records the exact request, then fails parsing
    program = result.program(task.student(recorder))
    predictor = program.predictor("triage")
    sent: dict[str, str] = {}
    for example in task.train:
        with contextlib.suppress(cl.ParseError):
            program(**task.call_args(example))
        request = recorder.requests[-2]  # the first attempt, not the parse retry
        assert request.model == result.params["triage"].model
        assert list(request.messages) == predictor.messages(**task.call_args(example))
        sent[json.dumps(list(request.messages), ensure_ascii=False)] = example["ticket"]
    assert len(lines) == 53
    for line in lines:
        record = json.loads(line)
        *prompt, reply = record["messages"]
        key = json.dumps(prompt, ensure_ascii=False)
        assert key in sent  # the bytes the runtime sends for that training input
        assert line == json.dumps({"messages": [*prompt, reply]}, ensure_ascii=False)
        assert reply["role"] == "assistant"
        outputs = predictor.adapter.parse(predictor.spec, reply["content"])
        assert reply["content"] == predictor.adapter.format_outputs(predictor.spec, outputs)


def test_export_only_writes_the_data_and_calls_no_api(tmp_path: Path) -> None:
    target = tmp_path / "data" / "triage.jsonl"
    result, _ = compile_triage(None, export_only=True, export_path=str(target))
    assert result.params["triage"].model is None
    assert target.read_bytes() == result.files["finetune/train.jsonl"]
    assert any("export only" in note for note in result.notes)


# -- jobs -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("outcome", "said"), [("failed", "bad rows here"), ("cancelled", "")])
def test_a_failed_or_cancelled_job_is_a_clear_error(outcome: str, said: str) -> None:
    with (
        FakeFineTune(polls=1, outcome=outcome, error="bad rows here") as server,
        pytest.raises(FineTuneError, match=outcome) as raised,
    ):
        compile_triage(server)
    assert said in str(raised.value) and "ftjob-1" in str(raised.value)


def test_a_job_that_outlives_the_timeout_can_be_waited_for_again() -> None:
    with FakeFineTune(polls=50) as server:
        with pytest.raises(FineTuneError, match="job_id=ftjob-1"):
            compile_triage(server, timeout=0.05)
        server.polls = 1
        result, _ = compile_triage(server, job_id="ftjob-1")
        uploads = [r for r in server.requests if r.path == "/v1/files"]
    assert len(uploads) == 1  # waiting again starts nothing new
    assert result.params["triage"].model == "ft:standin:castlm:castlm:ftjob-1"


def test_a_model_trained_on_the_same_data_is_reused(tmp_path: Path) -> None:
    with FakeFineTune(polls=1) as server:
        first, _ = compile_triage(server, work_dir=tmp_path)
        server.fail(503)  # a transient failure is retried
        again, _ = compile_triage(server, work_dir=tmp_path)
        fresh, _ = compile_triage(server, work_dir=tmp_path, reuse=False)
        jobs = [r for r in server.requests if r.path == "/v1/fine_tuning/jobs"]
    assert again.params == first.params
    assert any("reused" in note for note in again.notes)
    assert len(jobs) == 2 and fresh.params != first.params


def test_one_job_per_predictor_without_multitask() -> None:
    lm = ScriptedLM(model)
    ctx = OptimizeContext(lm, Evaluator(metric, threads=4), metric, threads=4)
    program = Program()
    program.set_lm(lm)
    with FakeFineTune(polls=1) as server:
        options = {"base_url": server.base_url, "multitask": False, **FAST}
        result = make_optimizer("finetune", options).compile(
            program, trainset=TRAIN, valset=TRAIN, ctx=ctx
        )
    assert sorted(result.files) == ["finetune/classify.jsonl", "finetune/explain.jsonl"]
    models = {name: p.model for name, p in result.params.items()}
    assert len(set(models.values())) == 2
    assert all(m is not None and m.startswith("ft:scripted:") for m in models.values())
    with pytest.raises(CompileError, match="multitask"):
        make_optimizer("finetune", {"multitask": False, "job_id": "x"}).compile(
            program, trainset=TRAIN, valset=TRAIN, ctx=ctx
        )


def test_the_cli_export_only_flag(tmp_path: Path) -> None:
    project = built().root / "project"
    out = tmp_path / "out"
    args = ["compile", str(project), "--out", str(out), "--optimizer", "finetune"]
    args += ["--export-only", "--force", "--no-verify", "--no-cache"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(args) == 0
    assert (out / "finetune" / "train.jsonl").read_text(encoding="utf-8").count("\n") == 53
    assert "model=" not in (out / "triage_bot" / "_frozen.py").read_text(encoding="utf-8")


# -- the emitted package --------------------------------------------------------------------
def test_the_package_calls_the_fine_tuned_model_without_castlm() -> None:
    packages = built()
    assert packages.mypy.returncode == 0, packages.mypy.stdout
    (model_id,) = packages.trained
    out = packages.outs["finetune"]
    frozen = (out / "finetune_bot" / "_frozen.py").read_text(encoding="utf-8")
    assert f'model="{model_id}",' in frozen
    assert model_id in (out / "README.md").read_text(encoding="utf-8")
    lines = (out / "finetune" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    trained = {json.dumps(json.loads(line)["messages"][:-1]) for line in lines}
    tickets = [{"ticket": ex["ticket"]} for ex in triage().train[:6]]
    result = run_castlm_free("finetune", tickets)
    assert result["castlm_modules"] == []
    assert set(result["models"]) == {model_id}
    assert result["run"] == result["loaded"] == result["arun"]
    sent = [json.dumps(m) for m in result["messages"][: len(tickets)]]
    assert sum(s in trained for s in sent) >= 5  # training prompts are what the package sends


def test_export_never_overwrites_a_file_castlm_did_not_write(tmp_path: Path) -> None:
    target = tmp_path / "data" / "triage.jsonl"
    target.parent.mkdir()
    target.write_text('{"mine": true}\n', encoding="utf-8")
    with pytest.raises(CompileError, match=f"refusing to overwrite {target}"):
        compile_triage(None, export_only=True, export_path=str(target))
    assert target.read_text(encoding="utf-8") == '{"mine": true}\n'


def test_export_replaces_what_it_exported_until_someone_changes_it(tmp_path: Path) -> None:
    from castlm.compiler.optimizers import finetune_export

    work, target = tmp_path / ".castlm", tmp_path / "out.jsonl"
    finetune_export.write({target: b"first\n"}, work)
    finetune_export.write({target: b"second\n"}, work)  # castlm's own: replaced
    assert target.read_bytes() == b"second\n"
    target.write_bytes(b"edited by hand\n")
    with pytest.raises(CompileError, match="castlm did not export it there"):
        finetune_export.write({target: b"third\n"}, work)
    assert target.read_bytes() == b"edited by hand\n"


def test_a_compile_run_again_waits_for_the_job_it_started(tmp_path: Path) -> None:
    with FakeFineTune(polls=50) as server:
        with pytest.raises(FineTuneError, match="Compile again to wait for it"):
            compile_triage(server, work_dir=tmp_path, timeout=0.05)
        server.polls = 1
        result, _ = compile_triage(server, work_dir=tmp_path)  # no job_id: it remembered
        uploads = [r for r in server.requests if r.path == "/v1/files"]
    assert len(uploads) == 1 and len(server.jobs) == 1
    assert result.params["triage"].model == "ft:standin:castlm:castlm:ftjob-1"


def test_a_failed_job_is_not_waited_for_again(tmp_path: Path) -> None:
    with FakeFineTune(polls=1, outcome="failed") as server:
        with pytest.raises(FineTuneError, match="failed"):
            compile_triage(server, work_dir=tmp_path)
        server.outcome = "succeeded"
        result, _ = compile_triage(server, work_dir=tmp_path)
    assert len(server.jobs) == 2
    assert result.params["triage"].model == "ft:standin:castlm:castlm:ftjob-2"
