import castlm as cl
from elsewhere import Imported


class Triage(cl.Signature):
    ticket: str = cl.InputField()
    category: str = cl.OutputField()


class NotASignature:
    pass


def make_signature() -> type:
    return Triage


class Bot(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.none = cl.Predict()
        self.text = cl.Predict("ticket -> category")
        self.plain = cl.Predict(NotASignature)
        self.typo = cl.Predict(Triag)
        self.func = cl.ChainOfThought(make_signature)
        self.imported = cl.Predict(Imported)
        self.by_keyword = cl.Predict(signature=Triage, temperature=0.2)

    def forward(self, ticket: str) -> str:
        unknown = self.imported(anything=ticket)
        return self.by_keyword(ticket=ticket).category + unknown.whatever
