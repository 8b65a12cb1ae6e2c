"""Examples: one row of data, with its inputs told apart from its labels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class Example(Mapping[str, Any]):
    """A training or evaluation example.

    ``Example(ticket="...", category="billing").with_inputs("ticket")`` marks ``ticket`` as the
    input; the remaining fields are labels. Fields read as attributes (``example.category``)
    or as mapping keys. Examples are immutable: ``with_inputs`` and ``copy`` return new ones.
    """

    __slots__ = ("_data", "_input_keys")
    _data: dict[str, Any]
    _input_keys: frozenset[str] | None

    def __init__(self, _data: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        data = dict(_data or {})
        data.update(fields)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_input_keys", None)

    def with_inputs(self, *names: str) -> Example:
        """A copy of this example whose inputs are ``names`` (and labels the other fields)."""
        missing = [n for n in names if n not in self._data]
        if missing:
            raise KeyError(f"example has no field {missing[0]!r}; it has {sorted(self._data)}")
        copy = Example(self._data)
        object.__setattr__(copy, "_input_keys", frozenset(names))
        return copy

    @property
    def input_keys(self) -> frozenset[str]:
        if self._input_keys is None:
            raise ValueError("this example's inputs are not set; call .with_inputs(...) first")
        keys: frozenset[str] = self._input_keys
        return keys

    def inputs(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.input_keys}

    def labels(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k not in self.input_keys}

    def copy(self, **changes: Any) -> Example:
        copy = Example(self._data, **changes)
        object.__setattr__(copy, "_input_keys", self._input_keys)
        return copy

    def without(self, *names: str) -> Example:
        copy = Example({k: v for k, v in self._data.items() if k not in names})
        if self._input_keys is not None:
            object.__setattr__(copy, "_input_keys", self._input_keys - set(names))
        return copy

    def to_dict(self) -> dict[str, Any]:
        return dict(self._data)

    # -- Mapping -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            import difflib  # only on this error path: keeps `import castlm` lean

            close = difflib.get_close_matches(name, list(self._data), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AttributeError(f"example has no field {name!r}{hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Example is immutable; use example.copy(field=value)")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Example):
            return NotImplemented
        return bool(self._data == other._data and self._input_keys == other._input_keys)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._data.items())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        inputs = f", inputs={sorted(self._input_keys)}" if self._input_keys is not None else ""
        return f"Example({fields}{inputs})"


def examples(rows: Iterable[Mapping[str, Any]], inputs: Iterable[str]) -> list[Example]:
    """Build examples from plain rows, all with the same input fields."""
    names = tuple(inputs)
    return [Example(row).with_inputs(*names) for row in rows]
