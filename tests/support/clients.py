"""OpenAIChatLM objects that tests close when they end.

Pooled connections left to the garbage collector would warn (ResourceWarning) in some later
test; a test module calls :func:`close_all` from an autouse fixture.
"""

from __future__ import annotations

from typing import Any

from castlm import OpenAIChatLM

_opened: list[OpenAIChatLM] = []


def openai_lm(model: str = "m", **kwargs: Any) -> OpenAIChatLM:
    # The servers of these tests script replies in the chat format; structured output (JSON
    # under a grammar) has tests of its own in test_structured_output.py.
    kwargs.setdefault("structured_output", "off")
    lm = OpenAIChatLM(model, **kwargs)
    _opened.append(lm)
    return lm


def close_all() -> None:
    while _opened:
        _opened.pop().close()
