"""Fuzzing a whole compile: mangled datasets and config files through ``castlm compile``
(stand-in model, no verification).

Invariants: the CLI ends with exit code 0 or 1 (a result, or a user error naming the file),
never 2 (an internal error); and nothing in the project changes outside the output folder
and the .castlm cache. Budget: see support/fuzz.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tomllib
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_INTERNAL, EXIT_OK, main
from hypothesis import given
from hypothesis import strategies as st
from support.fuzz import budget
from support.project import rows, write_project

OUT = "build"  # write_project's out = "build/reviewer"
CACHE = ".castlm"


def output_root(root: Path) -> str:
    """The top folder of the output the config names: a mangled config can still be valid
    and name another one (``out = ",build/reviewer"``), which is then the compile's to write."""
    try:
        out = tomllib.loads((root / "castlm.toml").read_text(encoding="utf-8")).get("out")
    except (ValueError, UnicodeDecodeError):
        return OUT
    parts = Path(out).parts if isinstance(out, str) else ()
    return parts[0] if parts else OUT


def snapshot(root: Path, skip: tuple[str, ...] = (OUT, CACHE)) -> dict[str, str]:
    """Every file and folder under ``root`` outside the ``skip`` folders (the output and
    cache), with a digest of each file's bytes."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in skip:
            continue
        found[str(relative)] = (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(
        tmp_path_factory.mktemp("fuzz") / "template", n_train=6, n_dev=3, optimizer="labeled"
    )


def _mangle(data: bytes, at: int, junk: bytes) -> bytes:
    at %= len(data) + 1
    return data[:at] + junk + data[at:]


junk = st.sampled_from(
    [
        b"",
        b"\n",
        b"\xff",
        b'"',
        b",",
        b"{",
        b"}",
        b"]",
        b"\x00",
        b"=",
        b"[[",
        b'"label": 1',
        b"\n{}\n",
    ]
) | st.binary(max_size=8)
targets = st.sampled_from(["data/train.jsonl", "data/dev.jsonl", "castlm.toml"])


def _compile(root: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> int:
    skip = (OUT, CACHE, output_root(root))
    before = snapshot(root, skip)
    code = main(["compile", str(root), "--lm", "standin", "--no-verify", *flags])
    err = capsys.readouterr().err
    assert code != EXIT_INTERNAL, err
    assert snapshot(root, skip) == before
    return code


def test_the_unmangled_template_compiles_and_writes_only_its_output(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "p"
    shutil.copytree(template, root)
    assert _compile(root, capsys) == EXIT_OK
    assert (root / OUT / "reviewer" / "reviewer" / "manifest.json").is_file() and (
        root / CACHE
    ).is_dir()


@budget(20)
@given(
    target=targets,
    at=st.integers(0, 2000),
    junk=junk,
    extra=st.lists(
        st.dictionaries(
            st.sampled_from(["review", "label", "reveiw", "x"]),
            st.none() | st.integers() | st.text(max_size=8) | st.lists(st.integers(), max_size=2),
            max_size=3,
        ),
        max_size=2,
    ),
)
def test_a_compile_of_mangled_inputs_ends_cleanly_and_writes_only_its_output(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    target: str,
    at: int,
    junk: bytes,
    extra: list[dict[str, object]],
) -> None:
    root = tmp_path_factory.mktemp("run") / "p"
    shutil.copytree(template, root)
    train = root / "data" / "train.jsonl"
    train.write_text(train.read_text() + "".join(json.dumps(r) + "\n" for r in extra))
    path = root / target
    path.write_bytes(_mangle(path.read_bytes(), at, junk))
    _compile(root, capsys)
    shutil.rmtree(root.parent)


@budget(10)
@given(
    fmt=st.sampled_from([".json", ".csv"]),
    data=st.binary(max_size=80)
    | st.just(
        b"review,label\n" + b"".join(f"{r['review']},{r['label']}\n".encode() for r in rows(4))
    ),
)
def test_a_compile_of_any_json_or_csv_train_file_writes_only_its_output(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
    data: bytes,
) -> None:
    root = tmp_path_factory.mktemp("run") / "p"
    shutil.copytree(template, root)
    (root / "data" / f"train{fmt}").write_bytes(data)
    _compile(root, capsys, "--train", str(root / "data" / f"train{fmt}"))
    shutil.rmtree(root.parent)
