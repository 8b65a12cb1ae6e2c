from typing import ClassVar

import castlm as cl


class Markers(cl.Signature):
    version: ClassVar[int] = 2
    question: str = cl.InputField()
    bare: str
    plain: int = 3
    unmarked = cl.InputField()
    answer: str = cl.OutputField("the answer")
    score: float = cl.OutputField(default=0.0, ge=0, maxlength=3)
    note: str = cl.InputField(desc="optional", default="", min_lenght=2)

    def helper(self) -> str:
        local: str = "not a field"
        return local
