"""Streamed program events, as mypy --strict and pyright strict see them.

Each line marked ``# MISTAKE`` must be an error for both checkers, and only those lines;
the ``match`` over the events is exhaustive (``assert_never``) and narrows the result.
"""

from __future__ import annotations

from typing import assert_never, assert_type

import castlm as cl


class Ask(cl.Signature):
    """Answer the question."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        self.think = cl.ChainOfThought(Ask)

    def forward(self, question: str) -> Ask:
        return self.think(question=question)


async def consume(bot: Bot) -> Ask | None:
    async for event in bot.astream(question="hi"):
        match event:
            case cl.FieldDelta(predictor=predictor, field=field, delta=delta):
                print(predictor + field + delta)
            case cl.Status(predictor=predictor, message=message, tool=tool):
                print(predictor, message, tool)
            case cl.PredictorDone(predictor=predictor, result=result):
                print(predictor, result)
            case cl.Finished(result=answer):
                assert_type(answer, Ask)
                return answer
            case _:
                assert_never(event)
    return None


def listen(bot: Bot) -> str:
    for event in bot.listen("think.answer").stream(question="hi"):
        if isinstance(event, cl.Finished):
            assert_type(event.result, Ask)
            return event.result.answr  # MISTAKE: misspelled output of the result
    bot.stream(questoin="hi")  # MISTAKE: misspelled keyword on stream
    bot.listen("think").astream(question=3)  # MISTAKE: wrong input type on astream
    return ""
