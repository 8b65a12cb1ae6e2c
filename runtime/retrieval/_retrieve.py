"""Retrieval: passages for a query, from any :class:`Retriever`, usable inside programs.

``cl.Retrieve(BM25(passages), k=3)`` is a module with no learnable parameters: calling it with
a query returns the top passages. :class:`BM25` is the embedded default, a small Okapi BM25
index over a local corpus held in memory; ``EmbeddingsRetriever`` (``_embeddings_retriever``)
ranks by embedding similarity instead. Anything with ``retrieve(query, k)`` and
``aretrieve(query, k)`` returning passages is a Retriever.

Tokenization (:func:`tokenize`), used for documents and queries alike: Unicode NFKC
normalization and case folding; words are runs of letters and digits (so ``"Tesla's"`` and
``"e-mail"`` split at the apostrophe and the hyphen); one-letter words and a short list of
English stopwords are dropped; words of four letters or more lose a plural ending: ``-ies``
becomes ``-y`` (``"cities"`` → ``"city"``), ``-ches``/``-shes``/``-sses``/``-xes``/``-zes`` lose
their ``-es`` (``"boxes"`` → ``"box"``), and any other final ``s`` goes (``"rivers"`` →
``"river"``), except after ``ss``, ``us`` or ``is``. There is no other stemming.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..base._errors import ConfigurationError
from ..base._narrow import is_array, is_mapping
from ..core._module import Module

_WORD = re.compile(r"[^\W_]+")
_STOPWORD_TEXT = """a an and are as at be but by for from has have he her his how i if in into is
    it its of on or our she that the their them then there these they this to was we were what
    when where which who whom why will with you your"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Passage:
    """One retrieved text: ``text``, optional ``title`` and ``id``, the retriever's ``score``
    and any other fields of the corpus row in ``metadata``. ``str(passage)`` is
    ``"title | text"`` (or the text alone), the form prompts usually want."""

    text: str
    title: str = ""
    id: str = ""
    score: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict[str, Any])

    def __str__(self) -> str:
        return f"{self.title} | {self.text}" if self.title else self.text


@runtime_checkable
class Retriever(Protocol):
    """Anything that returns the ``k`` passages best matching a query, best first."""

    def retrieve(self, query: str, k: int) -> list[Passage]: ...

    async def aretrieve(self, query: str, k: int) -> list[Passage]: ...


CorpusItem = str | Passage | Mapping[str, Any]


def as_passage(item: CorpusItem, index: int) -> Passage:
    """A corpus row as a Passage: a string is the text; a mapping needs ``text`` and may have
    ``title`` and ``id`` (everything else goes to ``metadata``). ``id`` defaults to the row
    number."""
    if isinstance(item, Passage):
        return item if item.id else Passage(item.text, item.title, str(index), 0.0, item.metadata)
    if isinstance(item, str):
        return Passage(item, id=str(index))
    if is_mapping(item) and isinstance(item.get("text"), str):
        rest = {k: v for k, v in item.items() if k not in ("text", "title", "id")}
        return Passage(
            item["text"], str(item.get("title") or ""), str(item.get("id", index)), 0.0, rest
        )
    raise ConfigurationError(
        f"corpus row {index} is neither a string, a Passage, nor a mapping with a 'text' "
        f"string: {item!r:.200}"
    )


def load_passages(path: str | Path) -> list[Passage]:
    """Read a corpus file: ``.jsonl`` (one object per line, or one string), ``.json`` (an array
    of objects or strings), else plain text with one passage per blank-line-separated block.
    A relative path is relative to the working directory: build it from the program's
    folder, ``Path(__file__).with_name("corpus.jsonl")``, so it resolves wherever it runs."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the corpus {file}: {exc}") from exc
    try:
        rows: list[Any]
        if file.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        elif file.suffix == ".json":
            loaded = json.loads(text)
            rows = loaded if is_array(loaded) else [loaded]
        else:
            rows = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    except (ValueError, RecursionError) as exc:
        raise ConfigurationError(f"the corpus {file} is not valid JSON: {exc}") from exc
    return [as_passage(row, i) for i, row in enumerate(rows)]


def tokenize(text: str) -> list[str]:
    """Words for BM25; see the module docstring for the exact rules."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return [_singular(w) for w in words if len(w) > 1 and w not in STOPWORDS]


def _singular(word: str) -> str:
    if len(word) < 4 or word.isdigit() or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


class BM25:
    """Okapi BM25 over passages held in memory (``k1``, ``b``: the usual parameters).

    ``corpus`` rows are strings, Passages or mappings (see :func:`as_passage`); the title, when
    there is one, is indexed with the text. Scores use ``idf = ln(1 + (N - n + 0.5) /
    (n + 0.5))``; only passages sharing a word with the query are returned, ties in corpus
    order. Building costs one pass over the corpus; a query touches only the passages that
    contain its words.
    """

    def __init__(
        self,
        corpus: Iterable[CorpusItem],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        tokenizer: Callable[[str], list[str]] = tokenize,
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigurationError("BM25: k1 must be >= 0 and b between 0 and 1")
        self.passages = [as_passage(item, i) for i, item in enumerate(corpus)]
        self.k1 = k1
        self.b = b
        self.tokenizer = tokenizer
        self._lengths: list[int] = []
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for index, passage in enumerate(self.passages):
            words = tokenizer(f"{passage.title}\n{passage.text}")
            self._lengths.append(len(words))
            for word, count in Counter(words).items():
                self._postings.setdefault(word, []).append((index, count))
        total = sum(self._lengths)
        self._average = total / len(self._lengths) if total else 1.0

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> BM25:
        """A BM25 index over :func:`load_passages` ``(path)``."""
        return cls(load_passages(path), **options)

    def __len__(self) -> int:
        return len(self.passages)

    def idf(self, word: str) -> float:
        n = len(self._postings.get(word, ()))
        return math.log(1 + (len(self.passages) - n + 0.5) / (n + 0.5))

    def scores(self, query: str) -> dict[int, float]:
        """Passage index -> BM25 score, for the passages sharing a word with ``query``."""
        scores: dict[int, float] = {}
        for word, times in Counter(self.tokenizer(query)).items():
            postings = self._postings.get(word)
            if not postings:
                continue
            weight = self.idf(word) * times
            for index, count in postings:
                norm = 1 - self.b + self.b * self._lengths[index] / self._average
                gain = weight * count * (self.k1 + 1) / (count + self.k1 * norm)
                scores[index] = scores.get(index, 0.0) + gain
        return scores

    def retrieve(self, query: str, k: int = 3) -> list[Passage]:
        scores = self.scores(query)
        best = heapq.nsmallest(k, scores, key=lambda i: (-scores[i], i))
        return [_scored(self.passages[i], scores[i]) for i in best]

    async def aretrieve(self, query: str, k: int = 3) -> list[Passage]:
        return self.retrieve(query, k)  # in memory and fast: no thread needed

    def __deepcopy__(self, memo: dict[int, Any]) -> BM25:
        return self  # read-only once built: copies of a program share it

    def __repr__(self) -> str:
        return f"BM25({len(self.passages)} passages, k1={self.k1}, b={self.b})"


def _scored(passage: Passage, score: float) -> Passage:
    return Passage(passage.text, passage.title, passage.id, score, passage.metadata)


class Retrieve(Module):
    """A program's retrieval step: ``self.retrieve(query)`` returns the top ``k`` passages.

    It has no learnable parameters (no predictors), so optimizers leave it alone and the
    emitted package keeps the retriever the program builds in ``__init__``.
    """

    def __init__(self, retriever: Retriever, k: int = 3) -> None:
        if k < 1:
            raise ConfigurationError("Retrieve: k must be at least 1")
        if not callable(getattr(retriever, "retrieve", None)):
            raise ConfigurationError(
                f"Retrieve needs a retriever with retrieve(query, k), not {retriever!r:.100}"
            )
        self.retriever = retriever
        self.k = k

    def __call__(self, *args: Any, **kwargs: Any) -> list[Passage]:
        """``(query, k=None)``: the top ``k`` (default: the module's ``k``) passages."""
        result: list[Passage] = super().__call__(*args, **kwargs)
        return result

    async def acall(self, *args: Any, **kwargs: Any) -> list[Passage]:
        result: list[Passage] = await super().acall(*args, **kwargs)
        return result

    def forward(self, query: str, k: int | None = None) -> list[Passage]:
        return self.retriever.retrieve(query, k or self.k)

    async def aforward(self, query: str, k: int | None = None) -> list[Passage]:
        aretrieve = getattr(self.retriever, "aretrieve", None)
        if aretrieve is None:
            return await asyncio.to_thread(self.retriever.retrieve, query, k or self.k)
        passages: list[Passage] = await aretrieve(query, k or self.k)
        return passages


def texts(passages: Sequence[Passage]) -> list[str]:
    """``str(p)`` for each passage: what a ``context: list[str]`` input usually takes."""
    return [str(p) for p in passages]
