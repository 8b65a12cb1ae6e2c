"""An already emitted package as the teacher: its program runs with its frozen instructions
and demos on castlm's runtime, and its traces become the student's demos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from castlm.compiler import optimize
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.errors import CompileError
from support.ticket_task import examples, load_program, write_project
from support.triage_task import RecordingStandIn

MARK = "Teacher package's instruction: route by the keyword."
ROUTE_DOC = '"""Route the support ticket to the queue that handles it."""'
QUEUE = 'queue: Literal["billing", "shipping", "account", "technical"] = cl.OutputField()'


def compile_teacher(root: Path, source_edit: tuple[str, str] | None = None) -> Path:
    """A compiled ticket router (the offline stand-in) whose instruction is MARK; returns
    its output folder."""
    write_project(root, train=12, dev=4, max_bootstrapped_demos=2, max_labeled_demos=3)
    source = (root / "program.py").read_text().replace(ROUTE_DOC, f'"""{MARK}"""')
    if source_edit is not None:
        source = source.replace(*source_edit)
    (root / "program.py").write_text(source)
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    return root / "build" / "router"


def student_project(root: Path, teacher: Path, **options: object) -> Path:
    write_project(root, train=12, dev=4, **options)
    config = (root / "castlm.toml").read_text()
    (root / "castlm.toml").write_text(f'teacher = "{teacher}"\n' + config)
    return root


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_teacher(tmp_path_factory.mktemp("teacher"))


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("student")))


def frozen_demo_tickets(package: Path) -> set[str]:
    text = (package / "router" / "_frozen.py").read_text()
    lines = [line for line in text.splitlines() if '"ticket"' in line]
    return {line.split('"ticket": ')[1].strip('",') for line in lines}


@pytest.mark.parametrize("optimizer", ["bootstrap", "random_search", "finetune"])
def test_the_package_teaches_with_its_frozen_instructions_and_demos(
    package: Path, task: ModuleType, optimizer: str
) -> None:
    student_lm, teacher_lm = RecordingStandIn(), RecordingStandIn()
    options: dict[str, object] = {"max_labeled_demos": 3}
    if optimizer != "finetune":
        options["max_bootstrapped_demos"] = 2
    if optimizer == "random_search":
        options["num_candidate_programs"] = 2
    if optimizer == "finetune":
        options["export_only"] = True
    train = examples(12, 1)
    result = optimize(
        task.Router(),
        trainset=train,
        metric=task.accuracy,
        optimizer=optimizer,
        options=options,
        lm=student_lm,
        teacher_lm=teacher_lm,
        teacher=str(package),
    )
    demo_tickets = frozen_demo_tickets(package)
    assert len(demo_tickets) == 3
    assert teacher_lm.requests
    for request in teacher_lm.requests:
        assert MARK in request.messages[0]["content"]  # the package's frozen instruction
        shown = " ".join(str(m["content"]) for m in request.messages[1:-1])
        asked = str(request.messages[-1]["content"])
        # its frozen demos, minus the one that is the example being run
        assert sum(t in shown for t in demo_tickets) == 3 - any(t in asked for t in demo_tickets)
    asked = " ".join(str(r.messages[-1]["content"]) for r in teacher_lm.requests)
    if optimizer == "finetune":
        lines = result.files["finetune/train.jsonl"].decode().splitlines()
        assert lines and all(MARK not in line for line in lines)  # the student's prompts
    else:
        (params,) = result.params.values()
        assert MARK not in params.instructions
    if optimizer == "bootstrap":
        booted = [d["ticket"] for d in result.params["route"].demos[:2]]
        assert len(booted) == 2 and all(t in asked for t in booted)  # from the teacher's runs
        assert student_lm.requests == []  # only the teacher ran


def test_a_compile_with_a_package_teacher_is_rebuilt_when_the_package_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = compile_teacher(tmp_path / "teacher")
    root = student_project(tmp_path / "student", teacher)
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    capsys.readouterr()
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["up_to_date"] is True
    args = ["compile", str(tmp_path / "teacher"), "--force", "--option", "max_labeled_demos=1"]
    assert main(args) == EXIT_OK
    capsys.readouterr()
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["up_to_date"] is False


def test_a_package_with_another_signature_is_refused_before_any_lm_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = compile_teacher(tmp_path / "teacher", (QUEUE, "queue: str = cl.OutputField()"))
    root = student_project(tmp_path / "student", teacher)
    capsys.readouterr()
    assert main(["compile", str(root)]) == EXIT_USER
    captured = capsys.readouterr()
    assert f"{root / 'castlm.toml'}:1:" in captured.err  # the line of the teacher key
    assert "predictor 'route' differs from the student's" in captured.err
    assert "field 'queue' is string there, one of:" in captured.err
    assert "plan for" not in captured.out  # refused before the plan, so before any LM call
    assert not (root / ".castlm" / "cache.sqlite").exists()


def test_a_package_without_the_students_predictors_is_refused(
    package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = student_project(tmp_path / "student", package)
    config = (root / "castlm.toml").read_text()
    (root / "castlm.toml").write_text(config.replace("program.py:Router", "program.py:Desk"))
    assert main(["compile", str(root), "--teacher", str(package)]) == EXIT_USER
    err = capsys.readouterr().err
    assert "error: --teacher: the teacher Router lacks the student's predictor(s) flag" in err


def test_a_folder_that_is_not_a_package_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = student_project(tmp_path / "student", tmp_path / "student" / "data")
    assert main(["compile", str(root)]) == EXIT_USER
    err = capsys.readouterr().err
    assert f"{root / 'castlm.toml'}:1:" in err and "holds no package emitted by castlm" in err


def test_a_teacher_inside_the_output_folder_is_refused(
    package: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = student_project(tmp_path / "student", tmp_path / "student" / "build" / "router")
    shutil.copytree(package, root / "build" / "router")
    assert main(["compile", str(root)]) == EXIT_USER
    assert "inside this compile's output folder" in capsys.readouterr().err


def test_optimize_refuses_a_missing_package(task: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(CompileError, match=r"^optimize\(\): the teacher .* does not exist"):
        optimize(
            task.Router(),
            trainset=examples(4, 1),
            metric=task.accuracy,
            lm=RecordingStandIn(),
            teacher=tmp_path / "nowhere",
        )


def test_an_ensemble_package_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    teacher = tmp_path / "teacher"
    write_project(teacher, train=12, dev=4)
    args = ["compile", str(teacher), "--optimizer", "ensemble", "--option", "size=2"]
    args += ["--option", "base=labeled", "--option", 'base_options={"k": 2}']
    assert main(args) == EXIT_OK
    root = student_project(tmp_path / "student", teacher / "build" / "router")
    capsys.readouterr()
    assert main(["compile", str(root)]) == EXIT_USER
    err = capsys.readouterr().err
    assert f"{root / 'castlm.toml'}:1:" in err and "is an ensemble" in err
