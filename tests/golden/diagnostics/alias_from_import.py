# `from castlm import ... as ...` forms are recognized like `cl.X`.
from castlm import ChainOfThought as CoT
from castlm import InputField, OutputField, Predict
from castlm import Module as Program
from castlm import Signature as Sig


class Ask(Sig):
    question: str = InputField()
    answer: str = OutputField()


class Bot(Program):
    def __init__(self) -> None:
        super().__init__()
        self.ask = Predict(Ask)
        self.think = CoT(signature=Ask)

    def forward(self, question: str) -> str:
        first = self.ask(question=question)
        return self.think(question=first.answr).reasoning
