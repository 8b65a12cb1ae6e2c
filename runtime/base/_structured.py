"""Structured output: one JSON schema per signature, sent in the dialect the server speaks.

Servers constrain a reply to a schema in different ways. castlm builds one schema per
signature (strict-compatible, so OpenAI's ``strict: true`` accepts it) and writes it into the
request body in the dialect chosen per LM:

* ``json_schema``: OpenAI's ``response_format: {"type": "json_schema", ...}``, also served by
  vLLM, Ollama, SGLang, LM Studio and llama.cpp's own ``llama-server``;
* ``llama_cpp``: ``response_format: {"type": "json_object", "schema": ...}``, what
  llama-cpp-python's server turns into a grammar;
* ``vllm``: vLLM's ``structured_outputs: {"json": ...}`` extra parameter;
* ``vllm_guided``: the ``guided_json`` parameter of vLLM releases before 0.10;
* ``ollama``: Ollama's ``format`` parameter holding the schema;
* ``off``: nothing; the prompt alone asks for JSON.

``auto`` starts with ``json_schema``; when an endpoint rejects a dialect (any 4xx/5xx whose
body names the parameter it was sent in), the next one is tried and the choice is remembered
for that endpoint. A dialect the user chose explicitly is never downgraded silently.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Literal, get_args

from ._narrow import is_array, is_mapping, is_object

Dialect = Literal["auto", "json_schema", "llama_cpp", "vllm", "vllm_guided", "ollama", "off"]
DIALECTS: tuple[str, ...] = get_args(Dialect)

#: What ``auto`` tries, in order. vLLM and Ollama serve ``json_schema`` too.
AUTO_ORDER: tuple[Dialect, ...] = ("json_schema", "llama_cpp", "off")

#: The body key each dialect puts its schema in; a rejection that names it is a rejection of
#: the dialect, not of the request.
_BODY_KEYS: dict[str, str] = {
    "json_schema": "response_format",
    "llama_cpp": "response_format",
    "vllm": "structured_outputs",
    "vllm_guided": "guided_json",
    "ollama": "format",
}

# JSON-schema keywords OpenAI's strict mode accepts; others (``default``, ``minLength``,
# ``castlm_role``...) are dropped from what is sent. Replies are still validated against the
# signature, so a dropped constraint is enforced after parsing instead of by the grammar.
_STRICT_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "anyOf", "$ref", "$defs", "description", "title", "pattern", "format", "minimum",
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems",
    }
)  # fmt: skip


class DialectRejected(Exception):
    """Raised by a backend when the endpoint refused the structured-output parameter.

    Internal: :class:`castlm.LM` catches it, picks the next dialect under ``auto``, or turns it
    into an :class:`castlm.LMStatusError` naming the setting to change.
    """

    def __init__(self, dialect: str, status: int, message: str) -> None:
        super().__init__(message)
        self.dialect = dialect
        self.status = status
        self.message = message


def check_dialect(value: object, where: str = "structured_output") -> Dialect:
    if value not in DIALECTS:
        import difflib

        close = difflib.get_close_matches(str(value), DIALECTS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"{where} must be one of {', '.join(DIALECTS)}; {hint}got {value!r}")
    return value  # type: ignore[return-value]


def response_format(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical structured-output request of a signature (OpenAI's form).

    Its schema keeps every constraint pydantic wrote (grammar-based servers use them all),
    closes every object and requires every property; the ``json_schema`` dialect sends a
    copy trimmed to what OpenAI's strict mode accepts. ``strict`` is false only when the
    schema cannot be made strict (free-form dict outputs).
    """
    closed, strict = _closed(schema)
    named = re.sub(r"\W", "_", name)[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": named, "schema": closed, "strict": strict},
    }


def body_fields(dialect: str, response_format: Mapping[str, Any]) -> dict[str, Any]:
    """The request-body keys that ask for ``response_format``'s schema in ``dialect``."""
    if dialect == "off":
        return {}
    wrapper = response_format.get("json_schema")
    schema = wrapper.get("schema") if is_mapping(wrapper) else None
    if schema is None:  # not a schema request (e.g. a caller's json_object): pass it as is
        return {"response_format": response_format}
    if dialect == "json_schema":
        assert is_mapping(wrapper)
        return {"response_format": {**response_format, "json_schema": _strict_wrapper(wrapper)}}
    if dialect == "llama_cpp":
        return {"response_format": {"type": "json_object", "schema": schema}}
    if dialect == "vllm":
        return {"structured_outputs": {"json": schema}}
    if dialect == "vllm_guided":
        return {"guided_json": schema}
    if dialect == "ollama":
        return {"format": schema}
    raise ValueError(f"unknown structured-output dialect {dialect!r}")


def dialect_of(body: Mapping[str, Any]) -> str | None:
    """The dialect a request body asks for structured output in; None when it asks for none."""
    for dialect in ("vllm", "vllm_guided", "ollama"):
        if _BODY_KEYS[dialect] in body:
            return dialect
    response = body.get("response_format")
    if not is_mapping(response):
        return None
    return "llama_cpp" if response.get("type") == "json_object" else "json_schema"


def names_dialect(dialect: str, status: int, body: str) -> bool:
    """Whether an error answer rejects the dialect's parameter rather than the request."""
    key = _BODY_KEYS.get(dialect)
    return key is not None and status >= 400 and key in body


def next_dialect(rejected: str) -> Dialect | None:
    """The dialect ``auto`` tries after ``rejected``; None when none is left."""
    if rejected not in AUTO_ORDER:
        return None
    at = AUTO_ORDER.index(rejected)
    return AUTO_ORDER[at + 1] if at + 1 < len(AUTO_ORDER) else None


class EndpointDialects:
    """What ``auto`` learned per endpoint, shared by every LM object of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._learned: dict[str, Dialect] = {}

    def get(self, endpoint: str) -> Dialect | None:
        return self._learned.get(endpoint)

    def learn(self, endpoint: str, dialect: Dialect) -> None:
        with self._lock:
            self._learned[endpoint] = dialect

    def forget(self) -> None:
        with self._lock:
            self._learned.clear()


LEARNED = EndpointDialects()


_STRICT: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = {}


def _strict_wrapper(wrapper: Mapping[str, Any]) -> dict[str, Any]:
    """``wrapper`` with its schema trimmed for strict mode; computed once per schema object
    (signatures build theirs once), so a call does no schema work."""
    key = id(wrapper)
    cached = _STRICT.get(key)
    if cached is None or cached[0] is not wrapper:
        trimmed = {**wrapper, "schema": strict_schema(wrapper["schema"])[0]}
        if len(_STRICT) > 4096:  # callers passing a fresh dict per call: stay bounded
            _STRICT.clear()
        cached = _STRICT[key] = (wrapper, trimmed)
    return cached[1]


def strict_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``schema`` made acceptable to OpenAI's strict mode, and whether that fully worked.

    Every object gets ``additionalProperties: false`` and lists every property as required
    (optional values are already ``anyOf [..., null]``); unsupported keywords are dropped;
    a ``$ref`` keeps no siblings. A free-form mapping (``additionalProperties`` holding a
    schema) cannot be strict, so it is kept and strictness is switched off.
    """
    state = {"strict": True}
    cleaned = _clean(schema, state, _STRICT_KEYWORDS)
    assert is_object(cleaned)
    return cleaned, state["strict"]


def _closed(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``schema`` with castlm's own keys removed and every object closed and fully required."""
    state = {"strict": True}
    cleaned = _clean(schema, state, None)
    assert is_object(cleaned)
    return cleaned, state["strict"]


def _clean(node: Any, state: dict[str, bool], keep: frozenset[str] | None) -> Any:
    if is_array(node):
        return [_clean(item, state, keep) for item in node]
    if not is_mapping(node):
        return node
    if keep is not None and "$ref" in node:
        return {"$ref": node["$ref"]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("castlm_") or key == "default" or (keep is not None and key not in keep):
            continue
        if key in ("properties", "$defs"):
            out[key] = {name: _clean(sub, state, keep) for name, sub in value.items()}
        elif key == "additionalProperties" and is_mapping(value):
            state["strict"] = False
            out[key] = _clean(value, state, keep)
        else:
            out[key] = _clean(value, state, keep)
    if out.get("type") == "object" and "properties" in out:
        out["required"] = list(out["properties"])
        out.setdefault("additionalProperties", False)
    return out
