"""Fuzzing the compiler's readers of user files: datasets and config files.

Invariant: any bytes in a dataset or config file end in loaded rows / configs or in a
CompileError (with the file), never in another exception. Budget: see support/fuzz.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import castlm as cl
import pytest
from castlm.compiler.config import _KEYS, find_config, load_config_file
from castlm.compiler.data import load_dataset, program_shape
from castlm.compiler.errors import CompileError
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from support.fuzz import budget
from support.fuzz import json_values as fuzz_json


class Customer(BaseModel):
    plan: Literal["free", "pro"]
    seats: int = 1


class Triage(cl.Signature):
    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()
    priority: int = cl.OutputField(ge=1, le=3)
    customer: Customer = cl.OutputField()
    tags: list[str] = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Triage)

    def forward(self, ticket: str, count: int = 1, account: Customer | None = None) -> Triage:
        return self.route(ticket=ticket)


SHAPE = program_shape(Bot)
FIELDS = [
    "ticket",
    "count",
    "customer",
    "category",
    "urgent",
    "priority",
    "customer",
    "tags",
    "tickt",
    "x",
]

json_values = fuzz_json(12)
near_values = (
    st.sampled_from(
        ["billing", "bug", "true", "false", "2", "7", '{"plan": "pro"}', '["a"]', "", "\ud800"]
    )
    | json_values
    | st.fixed_dictionaries(
        {"plan": st.sampled_from(["pro", "Pro", 1])}, optional={"seats": json_values}
    )
)
rows = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), near_values, max_size=8)


def _load(path: Path) -> None:
    try:
        examples = load_dataset(path, SHAPE)
    except CompileError as exc:
        assert exc.path == str(path)
        return
    assert examples and all("ticket" in e for e in examples)
    for example in examples:  # as the pipeline calls forward: typed values, no error
        args = SHAPE.call_args(example)
        assert isinstance(args["ticket"], str)
        assert args.get("account") is None or isinstance(args["account"], Customer)


def _mangle(data: bytes, cuts: list[int], junk: bytes) -> bytes:
    """Near-valid bytes: ``junk`` spliced in at a few offsets of a valid file."""
    for cut in cuts:
        at = cut % (len(data) + 1)
        data = data[:at] + junk + data[at:]
    return data


@budget(60)
@given(suffix=st.sampled_from([".jsonl", ".json", ".csv", ".ndjson"]), data=st.binary(max_size=300))
def test_any_bytes_load_or_compile_error(tmp_path: Path, suffix: str, data: bytes) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_bytes(data)
    _load(path)


@budget(80)
@given(
    rows=st.lists(rows, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 500), max_size=2),
    junk=st.sampled_from([b"", b"\n", b"\xff", b'"', b",", b"{", b"]", b"\r", b"\x00"]),
)
def test_near_valid_jsonl_and_json(
    tmp_path: Path, rows: list[dict[str, Any]], cuts: list[int], junk: bytes
) -> None:
    lines = "\n".join(json.dumps(r) for r in rows).encode()
    (tmp_path / "train.jsonl").write_bytes(_mangle(lines, cuts, junk))
    _load(tmp_path / "train.jsonl")
    (tmp_path / "train.json").write_bytes(_mangle(json.dumps(rows).encode(), cuts, junk))
    _load(tmp_path / "train.json")


@budget(80)
@given(
    header=st.lists(st.sampled_from(FIELDS) | st.text(max_size=6), min_size=1, max_size=6),
    cells=st.lists(
        st.lists(
            st.sampled_from(["billing", "true", "2", "", '{"plan":"pro"}', '["a"]', "x,y", '"q"'])
            | st.text(max_size=10),
            max_size=7,
        ),
        max_size=4,
    ),
)
def test_near_valid_csv(tmp_path: Path, header: list[str], cells: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(cells)
    path = tmp_path / "train.csv"
    path.write_bytes(out.getvalue().encode("utf-8", "surrogatepass"))
    _load(path)


toml_keys = st.sampled_from([*_KEYS, "programs", "x", "max_cots", "api_key"])
toml_scalars = st.sampled_from(
    [
        '"app.py:Bot"',
        '"exact_match"',
        '"train.jsonl"',
        '"openai/m"',
        "1",
        "0.5",
        "true",
        '"x"',
        "[]",
        "{}",
        "[1, 2]",
        "{a = 1}",
        '"bad name"',
        "-1",
        '"app.py:"',
        '":Bot"',
        "nan",
        "inf",
        '{ usd = "x" }',
        "{ m = [0.1, 0.2] }",
        "[[1]]",
        '"1979-05-27"',
        "-inf",
        "false",
        "0",
        "1.5",
        "1979-05-27T00:00:00",
    ]
)


def _toml(pairs: list[tuple[str, str]], programs: list[list[tuple[str, str]]], prefix: str) -> str:
    head = "\n".join(f"{k} = {v}" for k, v in pairs)
    tables = "\n".join(
        f"[[{prefix}programs]]\n" + "\n".join(f"{k} = {v}" for k, v in entry) for entry in programs
    )
    return f"{head}\n{tables}\n"


def _configs(path: Path) -> None:
    try:
        configs = load_config_file(path)
    except CompileError as exc:
        assert exc.path == str(path)
        return
    assert configs
    for config in configs:  # what a config accepts is usable: no NaN budget
        assert config.max_cost is None or config.max_cost >= 0


REQUIRED = {"program": '"app.py:Bot"', "metric": '"exact_match"', "train": '"t.jsonl"', "lm": '"x"'}


def _with_required(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Most draws lack a required key; half of them get all four, to reach the later checks."""
    return [*REQUIRED.items(), *((k, v) for k, v in found if k not in REQUIRED)]


pairs = st.lists(st.tuples(toml_keys, toml_scalars), max_size=8, unique_by=lambda p: p[0])
pairs = pairs | pairs.map(_with_required)


@budget(80)
@given(
    pairs=pairs,
    programs=st.lists(pairs, max_size=2),
    junk=st.sampled_from(["", "[", "=", "\x00", "]]", '"']),
    at=st.integers(0, 400),
)
def test_near_valid_castlm_toml(
    tmp_path: Path,
    pairs: list[tuple[str, str]],
    programs: list[list[tuple[str, str]]],
    junk: str,
    at: int,
) -> None:
    text = _toml(pairs, programs, "")
    at %= len(text) + 1
    path = tmp_path / "castlm.toml"
    path.write_text(text[:at] + junk + text[at:])
    _configs(path)


tool_heads = st.sampled_from(
    [
        "",
        "tool = 1",
        'tool = "x"',
        "tool = []",
        "tool = {castlm = 1}",
        "tool = {castlm = []}",
        "tool = {castlm = {programs = 1}}",
        "tool = {castlm = {programs = [1]}}",
        "[tool]\ncastlm = 2",
    ]
)


@budget(40)
@given(head=tool_heads)
def test_pyproject_odd_tool_tables(tmp_path: Path, head: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[project]\nname = 'p'\n{head}\n" if head.startswith("[") else f"{head}\n")
    try:
        found = find_config(tmp_path)
    except CompileError:
        return
    assert found in (None, path)
    _configs(path)


@budget(60)
@given(pairs=pairs, programs=st.lists(pairs, max_size=2), data=st.binary(max_size=200))
def test_pyproject_tool_table_and_any_bytes(
    tmp_path: Path, pairs: list[tuple[str, str]], programs: list[list[tuple[str, str]]], data: bytes
) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        "[project]\nname = 'p'\n[tool.castlm]\n" + _toml(pairs, programs, "tool.castlm.")
    )
    _configs(path)
    path.write_bytes(data)
    _configs(path)
    (tmp_path / "castlm.toml").write_bytes(data)
    _configs(tmp_path / "castlm.toml")


# Regressions the fuzzers found: each once raised a TypeError/ValueError/AttributeError.


def test_optimizer_options_of_the_wrong_type_is_a_compile_error(tmp_path: Path) -> None:
    path = tmp_path / "castlm.toml"
    path.write_text('optimizer_options = "fast"\n')
    with pytest.raises(CompileError, match="'optimizer_options' must be dict"):
        load_config_file(path)


def test_lm_settings_of_the_wrong_type_in_a_program_table_is_a_compile_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "castlm.toml"
    path.write_text("[[programs]]\nlm_settings = 1.5\n")
    with pytest.raises(CompileError, match="'lm_settings' must be dict"):
        load_config_file(path, {"lm_settings": {"temperature": 0}})


def test_a_programs_entry_that_is_not_a_table_is_a_compile_error(tmp_path: Path) -> None:
    path = tmp_path / "castlm.toml"
    path.write_text("programs = [1]\n")
    with pytest.raises(CompileError, match="must be a table, got 1"):
        load_config_file(path)


def test_a_pyproject_tool_key_that_is_not_a_table_holds_no_config(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("tool = 1\n")
    assert find_config(tmp_path) is None
    with pytest.raises(CompileError, match=r"no \[tool.castlm\] table"):
        load_config_file(path)


def test_a_nan_max_cost_is_a_compile_error(tmp_path: Path) -> None:
    path = tmp_path / "castlm.toml"
    path.write_text(
        'program = "app.py:Bot"\nmetric = "exact_match"\ntrain = "t.jsonl"\nlm = "standin"\n'
        "max_cost = nan\n"
    )
    with pytest.raises(CompileError, match="max_cost must be a number of US dollars >= 0"):
        load_config_file(path)
