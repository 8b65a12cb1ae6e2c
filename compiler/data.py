"""Datasets: JSONL, JSON or CSV rows checked against the program's inputs and labels.

A program's inputs are the parameters of its ``forward``; its labels are the outputs of the
Signature that ``forward`` returns (when it returns one). Every row is checked before any LM
call, and a bad row is reported as ``file:line: field 'x': what is wrong``.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import inspect
import json
import random
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from castlm import Example, Image, InputError, Module, Signature, spec_of
from castlm.base._types import image_field
from castlm.base._unicode import surrogate_in
from pydantic import TypeAdapter, ValidationError

from .errors import CompileError

DATASET_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
# Rows are held in memory, so a dataset's size is bounded: far above any useful training set.
MAX_DATASET_BYTES = 256 * 2**20
MAX_DEPTH = 64  # nesting of a field's value; deeper JSON is a mistake, not data


@dataclass(frozen=True)
class ProgramShape:
    """The fields a dataset row can have for one program."""

    inputs: dict[str, Any]
    required: frozenset[str]
    labels: dict[str, Any]
    returns: Any

    def call_args(self, example: Example) -> dict[str, Any]:
        """An example's inputs as the typed values ``forward`` expects (models, enums...)."""
        return {
            name: value
            if self.inputs.get(name, Any) is Any
            else _adapter(self.inputs[name]).validate_python(value)
            for name, value in example.inputs().items()
        }


def program_shape(cls: type[Module]) -> ProgramShape:
    forward = cls.forward
    try:
        hints = typing.get_type_hints(forward)
    except Exception as exc:
        raise CompileError(
            f"cannot resolve the type hints of {cls.__name__}.forward: {exc}"
        ) from exc
    params = list(inspect.signature(forward).parameters.values())[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise CompileError(
            f"{cls.__name__}.forward takes *args/**kwargs; declare each input as a named, "
            f"typed parameter so datasets and entry points can be checked"
        )
    inputs = {p.name: hints.get(p.name, Any) for p in params}
    required = frozenset(p.name for p in params if p.default is p.empty)
    returns = hints.get("return", Any)
    labels: dict[str, Any] = {}
    if isinstance(returns, type) and issubclass(returns, Signature):
        labels = {f.name: f.annotation for f in spec_of(returns).outputs}
    return ProgramShape(inputs, required, labels, returns)


def load_dataset(path: Path, shape: ProgramShape) -> list[Example]:
    """Read and check every row of ``path``."""
    if not path.is_file():
        raise CompileError("dataset file not found", path=path)
    examples = [_check_row(path, line, row, shape) for line, row in _rows(path)]
    if not examples:
        raise CompileError("the dataset has no rows", path=path)
    return examples


def file_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def split(
    examples: list[Example], fraction: float, seed: int, what: str = "dev"
) -> tuple[list[Example], list[Example]]:
    """Shuffle with ``seed`` and split off ``fraction`` as the dev (or ``what``) set."""
    if len(examples) < 2:
        raise CompileError(
            f"need at least 2 training rows to split off a {what} set; pass --{what}"
        )
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    n_dev = min(len(shuffled) - 1, max(1, round(len(shuffled) * fraction)))
    return shuffled[n_dev:], shuffled[:n_dev]


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path)
    else:
        raise CompileError("unknown dataset format; use .jsonl, .json or .csv", path=path)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Each line, decoded, with its number; at most MAX_DATASET_BYTES are ever read."""
    left = MAX_DATASET_BYTES
    number = 0
    with path.open("rb") as handle:
        while raw := handle.readline(left + 1):
            number += 1
            left -= len(raw)
            if left < 0:
                raise _too_big(path)
            yield number, _decode(path, raw, number)


def _decode(path: Path, raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = line + raw.count(b"\n", 0, exc.start)
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CompileError(
            f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {column}); save the file "
            f"as UTF-8",
            path=path,
            line=where,
        ) from exc


def _too_big(path: Path) -> CompileError:
    return CompileError(
        f"the dataset is larger than {MAX_DATASET_BYTES // 2**20} MiB; sample it down (a "
        f"compile needs tens to thousands of rows)",
        path=path,
    )


def _parse_json(path: Path, text: str, line: int | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if line is None:
            raise CompileError(f"invalid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        raise CompileError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=line
        ) from exc
    except RecursionError as exc:
        raise CompileError(
            "the JSON is nested too deeply to read; flatten it", path=path, line=line
        ) from exc


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, text in _lines(path):
        if not text.strip():
            continue
        row = _parse_json(path, text, number)
        if not isinstance(row, dict):
            raise CompileError("each line must be a JSON object", path=path, line=number)
        yield number, row


def _json_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open("rb") as handle:
        raw = handle.read(MAX_DATASET_BYTES + 1)
    if len(raw) > MAX_DATASET_BYTES:
        raise _too_big(path)
    data = _parse_json(path, _decode(path, raw, 1), None)
    if not isinstance(data, list):
        raise CompileError("a .json dataset must be an array of objects", path=path)
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise CompileError(f"item {index} is not an object", path=path)
        yield index + 1, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text for _, text in _lines(path))
    for row in reader:
        if None in row:
            raise CompileError(
                "row has more cells than the header", path=path, line=reader.line_num
            )
        yield reader.line_num, {k: v for k, v in row.items() if k is not None}


def _value_problem(value: Any) -> str | None:
    """What makes a parsed JSON value unusable: too deep a nesting, or a lone surrogate."""
    if _too_deep(value):
        return f"is nested more than {MAX_DEPTH} levels deep; flatten it"
    found = surrogate_in(value)
    if found:
        return f"holds {found}, which is not valid Unicode text; fix the \\u escape in the data"
    return None


def _too_deep(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return True
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    return any(_too_deep(child, depth + 1) for child in children)


def _check_row(path: Path, line: int, row: dict[str, Any], shape: ProgramShape) -> Example:
    from_csv = path.suffix.lower() == ".csv"
    known = {**shape.labels, **shape.inputs}
    for name in shape.required:
        if name not in row:
            raise CompileError(f"missing input field {name!r}", path=path, line=line)
    checked: dict[str, Any] = {}
    for name, value in row.items():
        problem = _value_problem(name) or _value_problem(value)
        if problem is not None:
            raise CompileError(f"field {name!r} {problem}", path=path, line=line)
        if name in known:
            checked[name] = _check_value(path, line, name, known[name], value, from_csv)
            continue
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
        if close:
            raise CompileError(
                f"unknown field {name!r}; did you mean {close[0]!r}?", path=path, line=line
            )
        checked[name] = value  # an extra label the metric may use
    inputs = [n for n in shape.inputs if n in checked]
    return Example(checked).with_inputs(*inputs)


def _check_value(
    path: Path, line: int, name: str, annotation: Any, value: Any, from_csv: bool
) -> Any:
    if annotation is Any:
        return value
    if image_field(annotation):
        return _image_value(path, line, name, value, annotation)
    adapter = _adapter(annotation)
    try:
        if from_csv and isinstance(value, str) and annotation is not str:
            return _from_cell(adapter, value)
        validated = adapter.validate_python(value)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        detail = f" at {where}" if where else ""
        raise CompileError(
            f"field {name!r}{detail}: {problem['msg']} (got {value!r})", path=path, line=line
        ) from exc
    # Values stay plain JSON data, so metrics compare like with like and demos freeze as literals.
    return adapter.dump_python(validated, mode="json")


def _image_value(path: Path, line: int, name: str, value: Any, annotation: Any) -> Any:
    """An image column: each path (relative to the dataset's folder; URLs kept as they are)
    read now, so a missing or broken file stops the compile before any LM call. The value
    becomes its ``data:`` URL, the plain JSON form demos are frozen in."""
    if value is None or value == "":
        try:
            return _adapter(annotation).validate_python(None)  # Image | None: no image
        except ValidationError:
            raise CompileError(
                f"field {name!r}: no image path given", path=path, line=line
            ) from None
    items = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
    many = isinstance(items, list)
    urls = [_image_url(path, line, name, item) for item in (items if many else [items])]
    return urls if many else urls[0]


def _image_url(path: Path, line: int, name: str, item: Any) -> str:
    if not isinstance(item, str):
        raise CompileError(
            f"field {name!r}: an image column holds a file path relative to the dataset (or "
            f"an http(s):// or data: URL), got {type(item).__name__}",
            path=path,
            line=line,
        )
    try:
        if item.startswith(("data:", "http://", "https://")):
            return Image.from_url(item).url
        file = path.parent / item
        if not file.is_file():
            raise CompileError(
                f"field {name!r}: image file {item!r} not found (looked for {file}; paths "
                f"are relative to the dataset's folder)",
                path=path,
                line=line,
            )
        return Image.from_path(file).url
    except InputError as exc:
        raise CompileError(f"field {name!r}: {exc}", path=path, line=line) from exc


def _from_cell(adapter: TypeAdapter[Any], cell: str) -> Any:
    try:
        return adapter.dump_python(adapter.validate_json(cell), mode="json")
    except ValidationError:
        return adapter.dump_python(adapter.validate_strings(cell), mode="json")


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    key = repr(annotation)
    if key not in _adapters:
        _adapters[key] = TypeAdapter(annotation)
    return _adapters[key]
