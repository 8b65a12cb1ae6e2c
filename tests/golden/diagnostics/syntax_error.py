import castlm as cl


class Broken(cl.Signature):
    question: str = cl.InputField(
    answer: str = cl.OutputField()
