"""Datasets: every malformed row is an error naming file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import castlm as cl
import pytest
from castlm.compiler.data import load_dataset, program_shape, split
from castlm.compiler.errors import CompileError
from pydantic import BaseModel


class Customer(BaseModel):
    plan: Literal["free", "pro"]


class Triage(cl.Signature):
    ticket: str = cl.InputField()
    category: Literal["billing", "bug"] = cl.OutputField()
    urgent: bool = cl.OutputField()
    customer: Customer = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        self.route = cl.Predict(Triage)

    def forward(self, ticket: str, lang: str = "en") -> Triage:
        return self.route(ticket=ticket)


SHAPE = program_shape(Bot)
ROW = '{"ticket": "refund", "category": "billing", "urgent": false, "customer": {"plan": "pro"}}'


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shape_reads_forward_and_return_signature() -> None:
    assert set(SHAPE.inputs) == {"ticket", "lang"}
    assert SHAPE.required == {"ticket"}
    assert set(SHAPE.labels) == {"category", "urgent", "customer"}


def test_jsonl_rows_become_examples(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", ROW + "\n\n" + ROW.replace("refund", "crash") + "\n")
    rows = load_dataset(path, SHAPE)
    assert len(rows) == 2
    assert rows[0].inputs() == {"ticket": "refund"}
    assert rows[0].customer == {"plan": "pro"}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (ROW + "\n{not json}\n", 2, "invalid JSON"),
        (ROW + "\n[1, 2]\n", 2, "must be a JSON object"),
        ('{"category": "bug"}\n', 1, "missing input field 'ticket'"),
        (ROW.replace('"urgent": false', '"urgent": "maybe"'), 1, "field 'urgent'"),
        (ROW.replace('"billing"', '"shipping"'), 1, "field 'category'"),
        (ROW.replace('"pro"', '"gold"'), 1, "field 'customer' at plan"),
        (ROW.replace('"category"', '"categroy"'), 1, "did you mean 'category'"),
        (ROW.replace('"ticket": "refund"', '"ticket": 5'), 1, "field 'ticket'"),
    ],
)
def test_bad_rows_name_file_line_and_field(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = write(tmp_path, "bad.jsonl", text)
    with pytest.raises(CompileError) as info:
        load_dataset(path, SHAPE)
    assert f"{path}:{line}:" in str(info.value)
    assert message in str(info.value)


def test_csv_cells_are_typed(tmp_path: Path) -> None:
    text = 'ticket,category,urgent,customer\nrefund,billing,true,"{""plan"": ""free""}"\n'
    rows = load_dataset(write(tmp_path, "d.csv", text), SHAPE)
    assert rows[0].urgent is True and rows[0].customer == {"plan": "free"}


def test_csv_bad_cell_names_its_line(tmp_path: Path) -> None:
    text = "ticket,category,urgent\nrefund,billing,true\ncrash,bug,perhaps\n"
    with pytest.raises(CompileError, match=r"d\.csv:3: field 'urgent'"):
        load_dataset(write(tmp_path, "d.csv", text), SHAPE)


def test_json_array_and_empty_and_missing_files(tmp_path: Path) -> None:
    assert len(load_dataset(write(tmp_path, "d.json", f"[{ROW}]"), SHAPE)) == 1
    with pytest.raises(CompileError, match="no rows"):
        load_dataset(write(tmp_path, "e.jsonl", "\n"), SHAPE)
    with pytest.raises(CompileError, match="not found"):
        load_dataset(tmp_path / "missing.jsonl", SHAPE)
    with pytest.raises(CompileError, match="unknown dataset format"):
        load_dataset(write(tmp_path, "d.txt", ROW), SHAPE)


def test_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    rows = load_dataset(
        write(tmp_path, "d.jsonl", "\n".join(ROW.replace("refund", f"r{i}") for i in range(10))),
        SHAPE,
    )
    train, dev = split(rows, 0.2, seed=1)
    assert len(dev) == 2 and len(train) == 8
    assert split(rows, 0.2, seed=1) == (train, dev)
    assert {e.ticket for e in train}.isdisjoint({e.ticket for e in dev})


# -- hostile files: named errors, bounded reads ----------------------------------------
def _raw(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["d.jsonl", "d.csv"])
def test_invalid_utf8_is_named_at_its_line(tmp_path: Path, name: str) -> None:
    first = ROW if name.endswith(".jsonl") else "ticket,category\nrefund,billing"
    path = _raw(tmp_path, name, first.encode() + b'\n{"ticket": "caf\xe9"}\n')
    line = 2 if name.endswith(".jsonl") else 3
    with pytest.raises(CompileError, match=r"not valid UTF-8 \(byte 0xe9 at column 16\)") as err:
        load_dataset(path, SHAPE)
    assert err.value.location == f"{path}:{line}"


def test_invalid_utf8_in_a_json_array_is_named_at_its_line(tmp_path: Path) -> None:
    path = _raw(tmp_path, "d.json", b'[\n{"ticket": "a"},\n{"ticket": "\xff"}\n]')
    with pytest.raises(CompileError, match="not valid UTF-8") as err:
        load_dataset(path, SHAPE)
    assert err.value.location == f"{path}:3"


@pytest.mark.parametrize("name", ["d.jsonl", "d.json"])
def test_json_nested_too_deeply_is_a_user_error(tmp_path: Path, name: str) -> None:
    deep = '{"ticket": ' + "[" * 100_000 + "]" * 100_000 + "}"
    path = write(tmp_path, name, deep if name.endswith("l") else f"[{deep}]")
    with pytest.raises(CompileError, match="nested too deeply"):
        load_dataset(path, SHAPE)


def test_a_value_nested_deeper_than_json_needs_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"ticket": "a", "extra": ' + "[" * 80 + "]" * 80 + "}")
    with pytest.raises(CompileError, match="field 'extra' is nested more than 64 levels"):
        load_dataset(path, SHAPE)


def test_reading_stops_at_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from castlm.compiler import data

    monkeypatch.setattr(data, "MAX_DATASET_BYTES", 1000)
    lines = write(tmp_path, "d.jsonl", (ROW + "\n") * 20)
    one_line = write(tmp_path, "e.jsonl", '{"ticket": "' + "x" * 5000 + '"}\n')
    array = write(tmp_path, "d.json", "[" + ",".join([ROW] * 20) + "]")
    for path in (lines, one_line, array):
        with pytest.raises(CompileError, match="larger than 0 MiB"):
            load_dataset(path, SHAPE)
