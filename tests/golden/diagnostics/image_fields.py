"""Image fields: accepted as inputs, CL106 as outputs."""

from typing import Optional

import castlm as cl
from castlm import Image


class Describe(cl.Signature):
    photo: cl.Image = cl.InputField()
    photos: list[Image] = cl.InputField()
    extra: Optional[cl.Image] = cl.InputField(default=None)
    answer: str = cl.OutputField()


class Draw(cl.Signature):
    prompt: str = cl.InputField()
    picture: cl.Image = cl.OutputField()
    sketches: list[Image] = cl.OutputField()
