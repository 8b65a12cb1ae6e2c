"""Project-local modules the program imports are vendored and imported relatively."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from castlm import PredictorParams
from castlm.compiler.emit import EmitError, render_package
from test_emit_support import emit, imported, request_for

PROGRAM = """\
import castlm as cl
import utils.text
from helpers import shout
from utils import DEFAULT


class Echo(cl.Signature):
    text: str = cl.InputField()
    echo: str = cl.OutputField()


class Tidy(cl.Module):
    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    def forward(self, text: str = DEFAULT) -> str:
        return shout(utils.text.squash(text))
"""

FILES = {
    "helpers.py": "def shout(text: str) -> str:\n    return text.upper() + '!'\n",
    "utils/__init__.py": "from . import text as text\n\nDEFAULT = 'a  b'\n",
    "utils/text.py": (
        "import helpers\n\n\n"
        "def squash(text: str) -> str:\n    return helpers.shout(' '.join(text.split()))[:-1]\n"
    ),
}


def _project(root: Path) -> tuple[Path, list[Path]]:
    for name, source in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source, encoding="utf-8")
    program = root / "tidy.py"
    program.write_text(PROGRAM, encoding="utf-8")
    return program, [root / name for name in FILES]


def test_local_modules_are_vendored_with_relative_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTLM_MODEL", "standin")  # compiled with it: run it on purpose
    program, sources = _project(tmp_path / "src")
    params = {"echo": PredictorParams("Echo.")}
    request = request_for(
        program, "tidy_pkg", params=params, module_class="Tidy", local_modules=sources
    )
    out = emit(request, tmp_path / "out")
    vendored = out / "tidy_pkg"
    assert (
        (vendored / "utils" / "text.py")
        .read_text(encoding="utf-8")
        .startswith("from .. import helpers\n")
    )
    assert "from . import utils\n" in (vendored / "program.py").read_text(encoding="utf-8")
    init = (vendored / "__init__.py").read_text(encoding="utf-8")
    assert "from .utils import DEFAULT" in init
    with imported(out, "tidy_pkg") as package:
        assert package.run(text="x   y") == "X Y!"
        assert package.run() == "A B!"
        assert package.program.utils.__name__ == "tidy_pkg.utils"


def test_explicit_names_may_be_given(tmp_path: Path) -> None:
    program, sources = _project(tmp_path / "src")
    named = {"helpers": sources[0], "utils": sources[1], "utils.text": sources[2]}
    params = {"echo": PredictorParams("Echo.")}
    request = request_for(
        program, "tidy_pkg", params=params, module_class="Tidy", local_modules=named
    )
    files = render_package(request)
    assert "tidy_pkg/utils/text.py" in files and "tidy_pkg/utils/__init__.py" in files


@pytest.mark.parametrize(
    ("local_modules", "message"),
    [
        ({"program": Path("x.py")}, "would replace a file castlm generates"),
        ({"not-a-name": Path("x.py")}, "not a dotted Python name"),
        ([Path("/elsewhere/helpers.py")], "only .py files under the program's folder"),
    ],
)
def test_bad_local_modules_are_refused(tmp_path: Path, local_modules: Any, message: str) -> None:
    program, _ = _project(tmp_path / "src")
    request = request_for(
        program,
        "tidy_pkg",
        params={},
        module_class="Tidy",
        local_modules=local_modules,  # type: ignore[arg-type]
    )
    with pytest.raises(EmitError, match=message):
        render_package(request)
