# castlm-target: Bott
# castlm-target: Triage
# castlm-target: NoForward
# castlm-target: Helper
# castlm-target: Child
import castlm as cl


class Triage(cl.Signature):
    ticket: str = cl.InputField()
    category: str = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = cl.Predict(Triage)

    def forward(self, ticket: str) -> str:
        return self.route(ticket=ticket).category


class NoForward(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = cl.Predict(Triage)


class Helper:
    pass


class Child(Bot):
    pass
