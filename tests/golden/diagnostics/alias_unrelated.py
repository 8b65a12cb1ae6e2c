# Look-alike names that do not come from castlm are not castlm constructs.
import dspy
from mylib import Signature


class Ask(Signature):
    question: str
    answer: str


class Other(dspy.Signature):
    question: str = dspy.InputField()


class Bot(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ask = dspy.Predict(Ask)

    def forward(self, question: str) -> str:
        return self.ask(wrong=question).nothing
