"""Before any LM call: every dataset row has the fields the metric reads.

A row without a label the metric reads passes the row check (labels are optional there,
since not every metric reads every output), and would fail only when the metric first sees
it, after LM calls were made. The fields are found in the metric's source
(analyze/metric_reads.py); when the metric reads fields in a way castlm cannot follow, or
its source is not available, nothing is checked.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from pathlib import Path

from .analyze.metric_reads import FieldRead, metric_reads
from .data import _rows as numbered_rows
from .errors import CompileError
from .metrics import Metric

_SHOWN = 5


def fields_read(metric: Metric) -> tuple[Path, list[FieldRead]] | None:
    """The metric's file and the fields it reads on every row, or None when unknown."""
    function = inspect.unwrap(metric)
    try:
        path = Path(inspect.getsourcefile(function) or "")
        source = path.read_text(encoding="utf-8")
        first_line = function.__code__.co_firstlineno
    except (TypeError, OSError, AttributeError, UnicodeDecodeError):
        return None  # a builtin, a callable object, a partial, a metric without source
    skip = 1 if inspect.ismethod(function) else 0
    reads = metric_reads(source, function.__name__, first_line, skip)
    return None if reads is None else (path, reads)


def check_rows_have_metric_fields(metric: Metric, datasets: Iterable[Path | None]) -> None:
    """Raise, naming each row and field, when rows lack a field the metric surely reads."""
    found = fields_read(metric)
    if found is None or not found[1]:
        return
    where, reads = found
    missing = [
        (path, line, read)
        for path in datasets
        if path is not None
        for line, row in numbered_rows(path)
        for read in reads
        if read.name not in row
    ]
    if missing:
        raise _missing_error(getattr(metric, "__name__", "metric"), where, missing)


def _missing_error(
    name: str, where: Path, missing: Sequence[tuple[Path, int, FieldRead]]
) -> CompileError:
    path, line, read = missing[0]
    lines = [
        f"the row has no field {read.name!r}, which the metric {name} reads on every row "
        f"({read.code} at {where}:{read.line}); add {read.name!r} to every row, or, if some "
        f"rows may lack it, read it with example.get({read.name!r}, default) in the metric"
    ]
    lines += [f"  {p}:{n}: no field {r.name!r}" for p, n, r in missing[1:_SHOWN]]
    if len(missing) > _SHOWN:
        lines.append(f"  ... and {len(missing) - _SHOWN} more missing field(s)")
    return CompileError("\n".join(lines), path=path, line=line)
