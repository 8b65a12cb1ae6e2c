"""Multi-hop question answering over a small local corpus, with BM25 retrieval.

Each question needs two passages: the first names a bridge (an organization's founder, a
person's birthplace), the second holds the answer. So the program retrieves twice: a query for
the question, then a query written from what the first passages say, and answers from all the
passages found. The corpus (``corpus.py``) is a Python module, so it ships inside the emitted
package; ``cl.Retrieve`` has no learnable parameters, and the three predictors are optimized.
"""

from __future__ import annotations

from typing import Final

import castlm as cl
from corpus import PASSAGES

# BM25 indexes each passage's title with its text.
CORPUS = [{"title": title, "text": text} for title, text in PASSAGES]


class FirstQuery(cl.Signature):
    """Write a search query that finds a passage about what the question asks."""

    question: str = cl.InputField()
    query: str = cl.OutputField(desc="a short search query")


class NextQuery(cl.Signature):
    """The passages found so far name someone or something the question depends on. Write a
    search query for the fact that is still missing."""

    question: str = cl.InputField()
    context: list[str] = cl.InputField(desc="passages found so far")
    query: str = cl.OutputField(desc="a short search query")


class Answer(cl.Signature):
    """Answer the question from the passages, with a short phrase."""

    question: str = cl.InputField()
    context: list[str] = cl.InputField(desc="passages that may hold the answer")
    answer: str = cl.OutputField(desc="a short phrase, often a name, a place or a year")


class MultiHop(cl.Module):
    """Retrieve, retrieve again with a query written from the first passages, then answer."""

    def __init__(self) -> None:
        self.retrieve: Final = cl.Retrieve(cl.BM25(CORPUS), k=2)
        self.first_query: Final = cl.Predict(FirstQuery)
        self.next_query: Final = cl.ChainOfThought(NextQuery)
        self.answer: Final = cl.ChainOfThought(Answer)

    def forward(self, question: str) -> Answer:
        query = self.first_query(question=question).query
        context = [str(p) for p in self.retrieve(query)]
        second = self.next_query(question=question, context=context).query
        context += [str(p) for p in self.retrieve(second) if str(p) not in context]
        return self.answer(question=question, context=context)


def answer_match(example: cl.Example, pred: Answer, trace: object = None) -> float:
    """1.0 when the expected answer appears in the predicted one (ignoring case and spaces)."""
    expected = " ".join(str(example["answer"]).lower().split())
    return 1.0 if expected in " ".join(pred.answer.lower().split()) else 0.0
