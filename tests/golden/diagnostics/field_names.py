import castlm as cl


class Names(cl.Signature):
    question: str = cl.InputField()
    question: str = cl.InputField()
    _private: str = cl.InputField()
    json: str = cl.InputField()
    model_dump: str = cl.OutputField()
    model_whatever: str = cl.OutputField()
    demos: str = cl.OutputField()
    answer: str = cl.OutputField()
