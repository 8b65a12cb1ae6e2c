"""Answers questions about the castlm docs."""

from ._runtime.base._acall import acall as _castlm_acall

from ._runtime import ChainOfThought, InputField, Module, OutputField, Signature


class Answer(Signature):
    """Answer the question in one sentence."""

    question: str = InputField()
    answer: str = OutputField(desc="one sentence")


class QA(Module):
    """Question answering with a reasoning step."""

    def __init__(self) -> None:
        self.answer = ChainOfThought(Answer)

    def forward(self, question: str) -> Answer:
        return self.answer(question=question)

    # Written by castlm compile from forward: predictor and module calls are awaited.
    async def aforward(self, question: str) -> Answer:
        return await _castlm_acall(self.answer, question=question)
