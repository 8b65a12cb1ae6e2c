"""The user's own modules are type-checked before the first LM call, not at verification."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_OK, EXIT_USER, main
from castlm.compiler.errors import CompileError
from castlm.compiler.source_typecheck import typecheck_sources
from support.fake_openai import FakeOpenAI
from support.project import write_project

HELPERS = "untyped_review_helpers"


@pytest.fixture(autouse=True)
def forget_the_helpers() -> Iterator[None]:
    """The compile imports the program, and with it the helpers: other tests have their own."""
    yield
    sys.modules.pop(HELPERS, None)


def untyped_helper_project(root: Path) -> Path:
    project = write_project(root)
    (project / f"{HELPERS}.py").write_text("def tidy(text):\n    return text.strip()\n")
    source = (project / "program.py").read_text(encoding="utf-8")
    source = source.replace(
        "import castlm as cl\n", f"import castlm as cl\nfrom {HELPERS} import tidy\n"
    )
    source = source.replace("classify(review=review)", "classify(review=tidy(review))")
    (project / "program.py").write_text(source, encoding="utf-8")
    return project


def test_an_untyped_local_module_fails_before_any_lm_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = untyped_helper_project(tmp_path / "p")
    with FakeOpenAI(reply="[[ ## label ## ]]\npositive") as server:
        code = main(["compile", str(project), "--lm", "served", "--base-url", server.base_url])
        assert server.chat_requests == []
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert "the program's sources fail `mypy --strict`" in err
    assert f"{project / HELPERS}.py:1: error: Function is missing a type annotation" in err
    assert "plan for" not in err  # before the plan, too
    assert not (project / "build").exists()


def test_no_verify_skips_the_type_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = untyped_helper_project(tmp_path / "p")
    code = main(["compile", str(project), "--no-verify"])
    assert code == EXIT_OK, capsys.readouterr().err


def test_a_project_where_the_cache_cannot_be_written_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "untyped.py"
    source.write_text("def f(x):\n    return x\n", encoding="utf-8")
    cache = tmp_path / "read-only" / ".castlm" / "mypy-cache"

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(CompileError, match=r"untyped\.py:1: error: Function is missing a type"):
        typecheck_sources([source], cache, source)
    monkeypatch.undo()
    assert not cache.exists()
