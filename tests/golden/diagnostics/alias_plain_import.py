# `import castlm` and submodule paths are recognized like `cl.X`.
import castlm
import castlm.compiler


class Ask(castlm.Signature):
    question: str = castlm.InputField()
    answer: str = castlm.OutputField()


class Bot(castlm.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ask = castlm.Predict(Ask)

    def forward(self, question: str) -> str:
        return self.ask(questoin=question).answer
