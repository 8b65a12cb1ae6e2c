import castlm as cl


class OnlyInputs(cl.Signature):
    question: str = cl.InputField()


class OnlyOutputs(cl.Signature):
    answer: str = cl.OutputField()


class Nothing(cl.Signature):
    """Instructions but no fields."""


class Complete(OnlyInputs):
    answer: str = cl.OutputField()
