"""A dataset row without a field the metric reads is an error before any LM call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from castlm.compiler.cli import EXIT_USER, main
from castlm.compiler.errors import CompileError
from castlm.compiler.label_check import check_rows_have_metric_fields, fields_read
from support.fake_openai import FakeOpenAI
from support.project import write_project


def _drop(path: Path, line: int, field: str) -> None:
    rows = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[line - 1])
    del row[field]
    rows[line - 1] = json.dumps(row)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_row_without_the_label_the_metric_reads_fails_before_any_lm_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "p")
    _drop(project / "data/dev.jsonl", 4, "label")
    _drop(project / "data/train.jsonl", 2, "label")
    with FakeOpenAI(reply="[[ ## label ## ]]\npositive") as server:
        code = main(["compile", str(project), "--lm", "served", "--base-url", server.base_url])
        assert server.chat_requests == []
    err = capsys.readouterr().err
    assert code == EXIT_USER
    train = project / "data/train.jsonl"
    assert f"{train}:2: the row has no field 'label', which the metric " in err
    assert f'accuracy reads on every row (example["label"] at {project / "program.py"}:' in err
    assert f"{project / 'data/dev.jsonl'}:4: no field 'label'" in err
    assert not (project / "build").exists()


def _metric_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "metric_src.py"
    path.write_text(source, encoding="utf-8")
    return path


def _load(path: Path, name: str) -> object:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return namespace[name]


def test_a_metric_reading_fields_dynamically_is_not_second_guessed(tmp_path: Path) -> None:
    path = _metric_file(
        tmp_path,
        "def metric(example, pred):\n"
        "    return sum(example[k] == pred[k] for k in example.labels()) / 2\n",
    )
    assert fields_read(_load(path, "metric")) is None  # type: ignore[arg-type]
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q"}\n', encoding="utf-8")
    check_rows_have_metric_fields(_load(path, "metric"), [data])  # type: ignore[arg-type]


def test_csv_columns_and_methods_are_checked(tmp_path: Path) -> None:
    path = _metric_file(
        tmp_path,
        "class Scorer:\n"
        "    def score(self, example, pred):\n"
        "        return float(example.answer == pred.answer)\n",
    )
    scorer = _load(path, "Scorer")()  # type: ignore[operator]
    data = tmp_path / "d.csv"
    data.write_text("question,note\nq1,a\nq2,b\n", encoding="utf-8")
    with pytest.raises(CompileError, match="no field 'answer'") as raised:
        check_rows_have_metric_fields(scorer.score, [data, None])
    assert raised.value.location == f"{data}:2"
    assert f"{data}:3: no field 'answer'" in str(raised.value)
    assert fields_read(lambda e, p: e.answer) is None
