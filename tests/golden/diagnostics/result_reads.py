import castlm as cl


class Ask(cl.Signature):
    question: str = cl.InputField()
    answer: str = cl.OutputField()
    confidence: float = cl.OutputField()


class Bot(cl.Module):
    def __init__(self) -> None:
        super().__init__()
        self.think = cl.ChainOfThought(Ask)
        self.plain = cl.Predict(Ask)
        self.steps = [cl.Predict(Ask) for _ in range(2)]

    async def forward(self, question: str) -> str:
        thought = await self.think(question=question)
        print(thought.reasoning, thought.question, thought.model_dump_json())
        print(thought.anser)
        direct = self.plain(question=question)
        print(direct.reasoning)
        print(self.plain(question=question).confidnce)
        for step in self.steps:
            out = step(question=question)
            print(out.answr)
        if question:
            mixed = self.plain(question=question)
        else:
            mixed = "not a result"
        print(mixed.anything)
        direct = question
        return direct.upper() + thought.answer
