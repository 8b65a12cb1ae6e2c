"""CL210: adapter names a predictor does not know."""

import castlm as cl


class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()


class Bot(cl.Module):
    def __init__(self, custom: object) -> None:
        self.typo = cl.Predict(Ask, adapter="jsn")
        self.unknown = cl.ChainOfThought(Ask, adapter="xml")
        self.chat = cl.Predict(Ask, adapter="chat")
        self.auto = cl.Predict(Ask, adapter="auto")
        self.json = cl.Predict(Ask, adapter="json")
        self.custom = cl.Predict(Ask, adapter=custom)

    def forward(self, question: str) -> Ask:
        return self.typo(question=question)
