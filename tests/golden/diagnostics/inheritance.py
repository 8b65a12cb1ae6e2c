# Fields, members and forward are inherited from classes in the same file.
# castlm-target: GrandChild
import castlm as cl
from elsewhere import BaseSignature


class Base(cl.Signature):
    """Base instructions."""

    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Extended(Base):
    context: str = cl.InputField()


class External(BaseSignature):
    extra: str = cl.InputField()


class Parent(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ask = cl.Predict(Extended)
        self.external = cl.Predict(External)

    def forward(self, question: str) -> str:
        result = self.ask(question=question)
        other = self.external(whatever=question)
        return result.answer + other.anything


class Child(Parent):
    def __init__(self) -> None:
        super().__init__()
        self.more = cl.Predict(Base)


class GrandChild(Child):
    pass
