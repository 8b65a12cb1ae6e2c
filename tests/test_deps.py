"""local_dependencies on a small on-disk project."""

from __future__ import annotations

from pathlib import Path

from castlm.compiler.deps import local_dependencies


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root.resolve()).as_posix() for p in paths]


def test_transitive_absolute_relative_and_package_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/program.py": (
                "import os, json\n"
                "import castlm as cl\n"
                "from helpers import clean\n"
                "from .schemas import Ticket\n"
                "import shared.text\n"
                "def later():\n"
                "    from shared import lazy\n"
            ),
            "app/helpers.py": "from app import constants\n",
            "app/schemas.py": "from . import enums\nfrom .. import toplevel\n",
            "app/enums.py": "import enum\n",
            "app/__init__.py": "",
            "app/constants.py": "",
            "app/unused.py": "",
            "shared/__init__.py": "",
            "shared/text.py": "from ..outside import nothing\nfrom .missing import x\n",
            "shared/lazy.py": "",
            "toplevel.py": "import broken\n",
            "broken.py": "def (:\n",
        },
    )
    found = local_dependencies(tmp_path / "app" / "program.py", tmp_path)
    assert relative(found, tmp_path) == [
        "app/__init__.py",
        "app/constants.py",
        "app/enums.py",
        "app/helpers.py",
        "app/schemas.py",
        "broken.py",
        "shared/__init__.py",
        "shared/lazy.py",
        "shared/text.py",
        "toplevel.py",
    ]


def test_namespace_packages_and_package_modules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "program.py": "import ns.mod\nfrom pkg import sub\nfrom pkg.deep import *\n",
            "ns/mod.py": "",
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/deep.py": "",
        },
    )
    found = local_dependencies(tmp_path / "program.py", tmp_path)
    assert relative(found, tmp_path) == [
        "ns/mod.py",
        "pkg/__init__.py",
        "pkg/deep.py",
        "pkg/sub/__init__.py",
    ]


def test_files_outside_the_project_and_cycles(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(
        tmp_path,
        {
            "project/program.py": "import a\nimport outside\n",
            "project/a.py": "import b\n",
            "project/b.py": "import a\nimport program\n",
            "outside.py": "",
        },
    )
    found = local_dependencies(project / "program.py", project)
    assert relative(found, project) == ["a.py", "b.py"]


def test_program_folder_is_searched_before_project_root(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/bot/program.py": "import helper\n",
            "src/bot/helper.py": "",
            "helper.py": "",
        },
    )
    found = local_dependencies(tmp_path / "src" / "bot" / "program.py", tmp_path)
    assert relative(found, tmp_path) == ["src/bot/helper.py"]
