import castlm as cl


class Triage(cl.Signature):
    ticket: str = cl.InputField()
    context: str = cl.InputField(default="")
    category: str = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = cl.Predict(Triage)
        self.many = [cl.Predict(Triage), cl.Predict(Triage)]

    def forward(self, ticket: str) -> str:
        ok = self.route(ticket=ticket)
        typo = self.route(tikcet=ticket)
        wrong_role = self.route(ticket=ticket, category="bug")
        unrelated = self.route(ticket=ticket, colour="red")
        positional = self.route(ticket)
        expanded = self.route(**{"ticket": ticket})
        indexed = self.many[len(ticket) % 2](context="")
        adhoc = cl.Predict(Triage)(ticket=ticket)
        maybe = self.missing(ticket)
        return ok.category + typo.category + wrong_role.category + unrelated.category
