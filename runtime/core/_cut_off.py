"""The retry after a reply that ran into its token limit.

A reply cut off at ``max_tokens`` cannot be read, and the ordinary retry (show the model its
reply and the error) does not help: a model that rambled once rambles again, now with the
rambling in its context. Small models do this most, typically in a chain of thought that
loops ("Settings > Health > Health > Health ...") until the budget is spent.

So the retry after a cut leaves the cut reply out, asks for short free-text fields, and,
where the request carries a JSON schema, bounds every free-text string with ``maxLength``
so that a grammar-constrained server (llama.cpp, vLLM, Ollama) must close the string and
write the remaining fields within the budget. OpenAI's strict mode does not accept
``maxLength``; there the request to be brief is what is left (see :mod:`castlm._structured`,
which trims the keyword for that dialect).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..base._narrow import is_array, is_mapping
from ..lm._lm import LMRequest, Message

#: llama.cpp turns ``maxLength: n`` into n nested optional grammar rules; its server fails
#: to parse the grammar (and the llama-cpp-python server dies) somewhere above 800.
MAX_CHARS = 500
#: Below this a field cannot say anything useful; the budget is split no finer.
MIN_CHARS = 40
#: Characters per token assumed when turning ``max_tokens`` into a string budget: English
#: averages about 4, so 2 leaves room for the other fields and the JSON around them.
CHARS_PER_TOKEN = 2

NOTE = (
    "Your previous reply ran past its length limit and was cut off before it was complete. "
    "Answer again, keeping every free-text field short."
)


def shorter_request(request: LMRequest, attempt: int) -> LMRequest:
    """The request to send after attempt number ``attempt`` (from 1) was cut at the token
    limit: the same messages with the note added to the last user turn, and free-text
    strings bounded (the budget halved for every attempt after the first)."""
    messages = (*request.messages[:-1], _with_note(request.messages[-1]))
    response_format = request.response_format
    if response_format is not None:
        response_format = bounded(response_format, _budget(request.max_tokens, attempt))
    return replace(request, messages=messages, response_format=response_format)


def bounded(response_format: Mapping[str, Any], chars: int) -> Mapping[str, Any]:
    """``response_format`` with ``maxLength`` on every free-text string of its schema,
    sharing ``chars`` among them (each gets at most :data:`MAX_CHARS`)."""
    wrapper = response_format.get("json_schema")
    schema = wrapper.get("schema") if is_mapping(wrapper) else None
    if not is_mapping(wrapper) or not is_mapping(schema):
        return response_format
    count = _count_free(schema)
    if count == 0:
        return response_format
    each = max(MIN_CHARS, min(MAX_CHARS, chars // count))
    # Applied again after a second cut, it tightens the bounds it set the first time.
    return {**response_format, "json_schema": {**wrapper, "schema": _bound(schema, each)}}


def _budget(max_tokens: int | None, attempt: int) -> int:
    chars = MAX_CHARS if max_tokens is None else max_tokens * CHARS_PER_TOKEN
    return chars >> max(0, attempt - 1)


def _is_free_text(node: Mapping[str, Any]) -> bool:
    """A string the model writes freely: no enum, constant, pattern or format (a length
    bound of its own is kept where it is tighter)."""
    constrained = ("enum", "const", "pattern", "format")
    return node.get("type") == "string" and not any(key in node for key in constrained)


def _count_free(node: Any) -> int:
    if is_mapping(node):
        own = 1 if _is_free_text(node) else 0
        return own + sum(_count_free(value) for value in node.values())
    if is_array(node):
        return sum(_count_free(item) for item in node)
    return 0


def _bound(node: Any, chars: int) -> Any:
    if is_mapping(node):
        out = {key: _bound(value, chars) for key, value in node.items()}
        if _is_free_text(node):
            own, least = node.get("maxLength"), node.get("minLength")
            bound = min(own, chars) if isinstance(own, int) else chars
            out["maxLength"] = max(bound, least) if isinstance(least, int) else bound
        return out
    if is_array(node):
        return [_bound(item, chars) for item in node]
    return node


def _with_note(message: Message) -> Message:
    content = message.get("content")
    if isinstance(content, str):
        if content.endswith(NOTE):  # a second cut: the note is there already
            return message
        return {**message, "content": f"{content}\n\n{NOTE}" if content else NOTE}
    if content is None:
        return {**message, "content": NOTE}
    parts = list(content)
    if parts and parts[-1] == {"type": "text", "text": NOTE}:
        return message
    return {**message, "content": [*parts, {"type": "text", "text": NOTE}]}
