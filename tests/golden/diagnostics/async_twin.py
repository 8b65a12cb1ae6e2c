"""Forwards that cannot be made async: CL401, and acall runs them in a thread."""

import castlm as cl


class Step(cl.Signature):
    """Answer."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Generating(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> object:
        yield self.step(question=question)


class Nested(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> list[str]:
        ask = lambda q: self.step(question=q).answer  # noqa: E731
        return [ask(question)]


class Lazy(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> str:
        return ", ".join(self.step(question=q).answer for q in question.split())


class Dynamic(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return getattr(self, "st" + "ep")(question=question)


class Helper(cl.Module):
    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self._ask(question.strip())

    def _ask(self, question: str) -> Step:
        return self.step(question=question)


class Fine(cl.Module):
    """A plain helper method and a hand-written aforward elsewhere raise nothing."""

    def __init__(self) -> None:
        self.step = cl.Predict(Step)

    def forward(self, question: str) -> Step:
        return self.step(question=self._clean(question))

    def _clean(self, question: str) -> str:
        return question.strip()
