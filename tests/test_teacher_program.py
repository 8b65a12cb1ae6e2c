"""Teacher programs: bootstrapping runs a given program (a bigger or compiled one) as it is,
instead of the student primed with labeled demos, as DSPy's ``teacher=`` does."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from castlm.compiler import optimize
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.errors import CompileError
from support.ticket_task import examples, load_program, write_project
from support.triage_task import RecordingStandIn

MARK = "Teacher's own instruction: route by the product named."


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load_program(write_project(tmp_path_factory.mktemp("ticket")))


@pytest.mark.parametrize("optimizer", ["bootstrap", "random_search"])
def test_the_teacher_program_runs_as_it_is(task: ModuleType, optimizer: str) -> None:
    student_lm, teacher_lm = RecordingStandIn(), RecordingStandIn()
    teacher = task.Router()
    teacher.route.instructions = MARK
    teacher.set_lm(teacher_lm)
    options = {"max_bootstrapped_demos": 2, "max_labeled_demos": 3}
    if optimizer == "random_search":
        options["num_candidate_programs"] = 2
    result = optimize(
        task.Router(),
        trainset=examples(12, 1),
        metric=task.accuracy,
        optimizer=optimizer,
        options=options,
        lm=student_lm,
        teacher=teacher,
    )
    assert teacher_lm.requests
    # its own instruction, and no labeled demos primed in (they would be in the prompt)
    for request in teacher_lm.requests:
        system = request.messages[0]["content"]
        assert MARK in system
        assert len(request.messages) == 2
    assert any(d for p in result.params.values() for d in p.demos)
    assert all(MARK not in p.instructions for p in result.params.values())


def test_a_teacher_without_the_students_predictors_is_refused(task: ModuleType) -> None:
    with pytest.raises(CompileError, match="lacks the student's predictor"):
        optimize(
            task.Desk(),
            trainset=examples(4, 1),
            metric=task.accuracy,
            lm=RecordingStandIn(),
            teacher=task.Router(),
        )


def test_teacher_in_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_project(tmp_path / "p", train=12, dev=4)
    config = (root / "castlm.toml").read_text()
    (root / "castlm.toml").write_text('teacher = "program.py:Desk"\n' + config)
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["scores"]["compiled"] is not None
    (root / "castlm.toml").write_text(
        'teacher = "program.py:Router"\n'
        + config.replace('program = "program.py:Router"', 'program = "program.py:Desk"')
    )
    assert main(["compile", str(root), "--force"]) == EXIT_USER
    err = capsys.readouterr().err
    assert "lacks the student's predictor(s) flag" in err and "castlm.toml" in err


def test_a_teacher_whose_predictor_has_other_fields_is_refused(task: ModuleType) -> None:
    import castlm as cl

    class Loose(cl.Signature):
        """Route the ticket."""

        ticket: str = cl.InputField()
        queue: str = cl.OutputField()

    class LooseRouter(cl.Module):
        def __init__(self) -> None:
            self.route = cl.Predict(Loose)

        def forward(self, ticket: str) -> Loose:
            return self.route(ticket=ticket)

    with pytest.raises(CompileError, match="field 'queue' is string there, one of: "):
        optimize(
            task.Router(),
            trainset=examples(4, 1),
            metric=task.accuracy,
            lm=RecordingStandIn(),
            teacher=LooseRouter(),
        )


def test_editing_a_teacher_file_makes_the_compile_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_project(tmp_path / "p", train=12, dev=4)
    source = (root / "program.py").read_text()
    (root / "teacher.py").write_text(source.replace("class Router", "class BigRouter"))
    config = (root / "castlm.toml").read_text()
    (root / "castlm.toml").write_text('teacher = "teacher.py:BigRouter"\n' + config)
    assert main(["compile", str(root)]) == EXIT_OK
    capsys.readouterr()
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["up_to_date"] is True
    edited = source.replace("class Router", "class BigRouter").replace(
        '"""Route the support ticket to the queue that handles it."""', f'"""{MARK}"""'
    )
    (root / "teacher.py").write_text(edited)  # teacher.py is not imported by program.py
    assert main(["compile", str(root), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["up_to_date"] is False
