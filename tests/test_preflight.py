"""Preflight: every user mistake that needs no LM is an exit-1 error naming where it was set,
found before the plan is printed, and nothing of the user's is deleted or overwritten."""

from __future__ import annotations

import errno
import gc
import os
from pathlib import Path

import pytest
from castlm.compiler import preflight as preflight_module
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from support.project import write_project


def _compile(capsys: pytest.CaptureFixture[str], root: Path, *flags: str) -> tuple[int, str]:
    code = main(["compile", str(root), "--no-verify", *flags])
    err = capsys.readouterr().err
    return code, err


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_project(tmp_path / "p", optimizer="labeled")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return root


def _refused(
    capsys: pytest.CaptureFixture[str], root: Path, flags: tuple[str, ...], message: str
) -> str:
    gc.collect()  # an earlier in-process compile's LM cache closes (and checkpoints) now
    before = _tree(root.parent)
    code, err = _compile(capsys, root, *flags)
    assert code == EXIT_USER, err
    assert message in err
    assert "plan for" not in err and "internal error" not in err  # before any LM call
    assert _tree(root.parent) == before  # nothing written, nothing deleted
    return err


def test_the_project_itself_as_output_is_refused_and_kept(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(capsys, project, ("--out", str(project)), "is the project folder")
    _refused(capsys, project, ("--out", str(project.parent)), "holds the project folder")
    _refused(capsys, project, ("--out", "/"), "the output folder cannot be /")
    assert (project / ".git" / "HEAD").is_file()


def test_a_folder_holding_a_copied_package_and_user_code_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported data loss: --out myservice/ where myservice holds a copy of an emitted
    package (manifest and all) next to the user's own code and .git."""
    assert _compile(capsys, project)[0] == EXIT_OK
    service = project.parent / "myservice"
    (service / ".git").mkdir(parents=True)
    (service / "main.py").write_text("print('mine')\n", encoding="utf-8")
    for name, data in _tree(project / "build" / "reviewer").items():
        (service / name).parent.mkdir(parents=True, exist_ok=True)
        (service / name).write_bytes(data)
    err = _refused(capsys, project, ("--out", str(service)), "castlm did not write .git/, main.py")
    assert f"--out: refusing to replace {service}" in err


def test_its_own_output_is_replaced_until_a_user_adds_a_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = project / "build" / "reviewer"
    assert _compile(capsys, project)[0] == EXIT_OK
    assert _compile(capsys, project, "--force")[0] == EXIT_OK
    (out / "notes.md").write_text("mine\n", encoding="utf-8")
    err = _refused(capsys, project, ("--force",), "castlm did not write notes.md")
    assert f"{project / 'castlm.toml'}:7: refusing to replace {out}" in err  # the `out` line


def test_a_file_as_output_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "afile").write_text("mine\n", encoding="utf-8")
    _refused(capsys, project, ("--out", str(project / "afile")), "afile is a file, not a folder")
    below = str(project / "afile" / "out")
    _refused(capsys, project, ("--out", below), "afile is a file")


def test_an_unwritable_output_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(**kwargs: object) -> str:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(preflight_module.tempfile, "mkdtemp", read_only)
    _refused(capsys, project, (), "cannot write the output folder in")


def test_every_problem_is_reported_together(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(
        capsys,
        project,
        ("--package", "import", "--train", "/dev/zero", "--out", str(project)),
        "3 problems, found before any LM call",
    )
    assert "--train: the train dataset /dev/zero is not a regular file" in err
    assert "--package: package name 'import' is a Python keyword" in err
    assert "--out: the output folder" in err


def test_bad_names_and_missing_files_are_named_at_their_config_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "castlm.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("program.py:Reviewer", "missing.py:Reviewer").replace(
            'out = "build/reviewer"', 'out = "build/reviewer"\npackage = "json"'
        ),
        encoding="utf-8",
    )
    err = _refused(capsys, project, (), "2 problems")
    assert f"{config}:1: the program file {project / 'missing.py'} does not exist" in err
    assert f"{config}:8: package name 'json' would hide the standard library's" in err


def test_programs_sharing_an_output_folder_are_refused_before_either_runs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "castlm.toml"
    text = config.read_text(encoding="utf-8").replace('out = "build/reviewer"\n', "")
    config.write_text(
        text.replace("\n[optimizer_options]", '\nout = "build/shared"\n[optimizer_options]')
        + '\n[[programs]]\npackage = "one"\n\n[[programs]]\npackage = "two"\n',
        encoding="utf-8",
    )
    _refused(capsys, project, (), "packages 'one' and 'two' both write to")


def test_a_config_that_is_not_utf8_is_named_at_its_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "castlm.toml"
    config.write_bytes(config.read_bytes() + b"# caf\xe9\n")
    lines = config.read_bytes().count(b"\n")
    _refused(capsys, project, (), f"castlm.toml:{lines}: not valid UTF-8 (byte 0xe9)")


def test_a_config_nested_too_deeply_is_a_user_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project / "castlm.toml"
    config.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    _refused(capsys, project, (), "the TOML is nested too deeply")


def test_a_dataset_that_is_not_utf8_stops_before_the_plan(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = project / "data" / "train.jsonl"
    train.write_bytes(train.read_bytes() + b'{"review": "\xff", "label": "mixed"}\n')
    _refused(capsys, project, (), f"{train}:19: not valid UTF-8")


def test_a_finetune_export_over_a_users_file_is_refused_before_any_lm_call(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project / "data" / "mine.jsonl"
    mine.write_text('{"mine": true}\n', encoding="utf-8")
    flags = ("--optimizer", "finetune", "--export-only", "--option", f"export_path={mine}")
    _refused(
        capsys, project, flags, f"--option export_path: finetune: refusing to overwrite {mine}"
    )


def test_a_file_where_the_work_folder_belongs_is_refused(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / ".castlm").write_text("mine\n", encoding="utf-8")
    _refused(capsys, project, (), "castlm keeps its cache and optimizer state in this folder")


def test_a_missing_program_given_as_an_argument_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path / "p")
    monkeypatch.chdir(root)
    flags = ["--train", "data/train.jsonl", "--metric", "exact_match", "--lm", "standin"]
    assert main(["compile", "missing.py:Reviewer", *flags]) == EXIT_USER
    err = capsys.readouterr().err
    assert f"error: the program file {root / 'missing.py'} does not exist" in err


def test_an_option_nested_too_deeply_is_a_user_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    _refused(capsys, project, ("--option", f"k={deep}"), "--option k: the JSON value is nested")


def test_a_file_added_to_the_output_during_the_compile_is_kept_and_a_user_error(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from castlm.compiler import pipeline

    out = project / "build" / "reviewer"
    assert _compile(capsys, project)[0] == EXIT_OK
    real_render = pipeline._Build.render

    def render_then_add_a_file(self: pipeline._Build) -> dict[str, bytes]:
        (out / "added-meanwhile.txt").write_text("mine\n", encoding="utf-8")
        return real_render(self)

    monkeypatch.setattr(pipeline._Build, "render", render_then_add_a_file)
    code, err = _compile(capsys, project, "--force")
    assert code == EXIT_USER and "castlm did not write added-meanwhile.txt" in err
    assert (out / "added-meanwhile.txt").read_text(encoding="utf-8") == "mine\n"
