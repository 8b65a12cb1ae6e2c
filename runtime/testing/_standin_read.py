"""How the stand-in model reads passages: short answers and second-hop queries from a context.

A prompt is a **reading task** for one of its outputs when

* an input holds passages: it is declared as a list of strings, or it is text whose name or
  description says context, passage(s), document(s), evidence, source(s) or snippet(s);
* another text input holds the question (all the other text inputs, joined);
* the output is plain text whose name or description says ``query``/``search`` (a **query**)
  or ``answer``, ``short``, ``phrase`` or ``word(s)`` (an **answer**).

A passage written ``Title | text`` (as ``cl.Retrieve`` writes one) is read as a title and a
text, and every sentence of the text is read together with the title, the way a pronoun in it
("Its headquarters ...") refers to the passage's subject.

The reader, crude and deterministic:

1. **First hop.** The sentence about what the question names: the most words shared with the
   question's names (its capitalised words), then the most content words shared with the
   question, then the earliest. Its **bridge** is the names it holds that the question does not
   (``Ana Kessel`` in "Brightwater Mills ... founded in 1887 by Ana Kessel").
2. **A query** is the bridge followed by the question's content words the first-hop passage
   does not cover, in the question's order ("Ana Kessel founder born"), so that a retriever
   finds the passage about the bridge.
3. **An answer** comes from the first-hop sentence when its passage covers every content word
   of the question; otherwise from the second-hop sentence (the sentence of another passage
   that mentions the bridge and shares the most words with the bridge and the question words
   still uncovered), falling back to the first-hop sentence. Zero-shot, the stand-in does not
   know which kind of span a question wants: it answers with the longest run of content words
   that the question and the bridge do not hold (punctuation and stopwords end a run; ties:
   the first), so "Rosa Thane was a gardener, born in Wickham in 1877." answers "gardener"
   whether the question asks for her profession, her birthplace or her birth year.

**A demonstration teaches how to read, not what to answer.** For a reading task the
demonstration that counts is the one whose *question* is most similar (Jaccard overlap of
content words, at least the analogy threshold), since passages differ with every question.

* Its value occurs in its own passages (every content word in one sentence): copying it would
  lend another question's answer, so the stand-in learns the **kind** of span (a number; a
  name, i.e. capitalised words, keeping a ``the`` before them; otherwise the sentence's object,
  the words after ``is``/``was``/``are``/``were`` and an article up to a comma or stopword) and
  the **cue**, the word just before the value in its sentence ("born *in* Marlow"). It then
  answers with the first span of that kind, preferring one after the same cue, that the
  question and the bridge do not already hold.
* It has no passages (a labelled example): it still shows the kind of span, without a cue.
* Its value is not in its passages (a fixed label such as "unknown"): it is copied, as
  analogy copies any value.

A query is always read (a demonstration of one does not change it): the query's words come
from the current question and passages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..base._narrow import is_array, is_object
from ._standin_prompt import Demo, FieldInfo, Prompt
from ._standin_text import STOPWORDS, content_words, sentences, similarity, stem, words
from ._standin_types import type_of

_PASSAGE_WORDS = frozenset(
    {"context", "contexts", "passage", "passages", "document", "documents", "evidence"}
    | {"source", "sources", "snippet", "snippets"}
)
_QUERY_WORDS = frozenset({"query", "queries", "search"})
_ANSWER_WORDS = frozenset({"answer", "short", "phrase", "word", "words"})

_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+(?:&\s+|of\s+)?[A-Z][\w'-]*)*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_OBJECT = re.compile(r"\b(?:is|was|are|were)\s+(?:(?:a|an|the)\s+)?([^,.;:!?]+)", re.IGNORECASE)
_CONTENT_RUN = re.compile(r"[\w'-]+")
_TOKEN = re.compile(r"[\w'-]+|[^\w\s]")


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int
    words: frozenset[str]  # content words of the sentence and its passage's title


@dataclass(frozen=True)
class Reading:
    """A reading task for one output field."""

    mode: str  # "answer" or "query"
    question: str
    passages: tuple[tuple[str, str], ...]  # (title, text)


@dataclass(frozen=True)
class Lesson:
    """What a grounded demonstration shows about the span to answer with."""

    kind: str  # "number", "name" or "object"
    cue: str  # the word just before the answer in its sentence, lower-cased ("" if none)


@dataclass(frozen=True)
class Hops:
    first: Sentence | None
    bridge: tuple[str, ...]
    second: Sentence | None
    covered: frozenset[str]  # question words the first hop's passage holds


# -- recognising a reading task -------------------------------------------------------------
def reading_for(prompt: Prompt, f: FieldInfo) -> Reading | None:
    """The reading task ``f`` is, in ``prompt``'s current inputs, or None."""
    return _reading(prompt.inputs, prompt.values, f)


def _reading(
    inputs: Sequence[FieldInfo], values: Mapping[str, str], f: FieldInfo
) -> Reading | None:
    mode = _mode(f)
    if mode is None:
        return None
    passages: list[tuple[str, str]] = []
    question: list[str] = []
    for field in inputs:
        if field.name not in values:
            continue
        found = _passages(field, values[field.name])
        if found is not None:
            passages += found
        elif field.text:
            question.append(values[field.name])
    if not passages or not question:
        return None
    return Reading(mode, "\n".join(question), tuple(passages))


def _mode(f: FieldInfo) -> str | None:
    if not f.text or f.schema.get("format") or f.name in ("reasoning", "rationale"):
        return None
    said = set(words(f"{f.name.replace('_', ' ')} {f.desc}"))
    if said & _QUERY_WORDS:
        return "query"
    return "answer" if said & _ANSWER_WORDS else None


def _passages(field: FieldInfo, value: str) -> list[tuple[str, str]] | None:
    """The passages ``field`` holds, or None when it is not a passage input."""
    items = field.schema.get("items")
    if type_of(field.schema) == "array" and is_object(items) and type_of(items) == "string":
        try:
            data = json.loads(value)
        except ValueError:
            return None
        listed = [str(item) for item in data] if is_array(data) else []
        return [_titled(item) for item in listed if item.strip()]
    said = set(words(f"{field.name.replace('_', ' ')} {field.desc}"))
    if field.text and said & _PASSAGE_WORDS:
        return [_titled(line) for line in value.splitlines() if line.strip()]
    return None


def _titled(passage: str) -> tuple[str, str]:
    title, bar, text = passage.partition(" | ")
    return (title.strip(), text.strip()) if bar and len(title) <= 100 else ("", passage.strip())


# -- reading ----------------------------------------------------------------------------------
def read(reading: Reading, lesson: Lesson | None = None) -> str | None:
    """The query or the answer ``reading`` asks for; None when the passages give nothing."""
    found = _sentences(reading.passages)
    hops = _hops(reading.question, found)
    if hops.first is None:
        return None
    if reading.mode == "query":
        return _query(reading.question, hops)
    return _answer(reading.question, hops, lesson)


def _sentences(passages: Sequence[tuple[str, str]]) -> list[Sentence]:
    found: list[Sentence] = []
    for i, (title, text) in enumerate(passages):
        for s in sentences(text):
            found.append(Sentence(s, i, content_words(f"{title}\n{s}")))
    return found


def _hops(question: str, found: list[Sentence]) -> Hops:
    asked = content_words(question)
    named = content_words(" ".join(names(question)))
    if not found:
        return Hops(None, (), None, frozenset())
    first = max(found, key=lambda s: (len(s.words & named), len(s.words & asked), -found.index(s)))
    bridge = tuple(n for n in names(first.text) if not content_words(n) <= asked)
    covered = asked & frozenset().union(*(s.words for s in found if s.passage == first.passage))
    bridged = content_words(" ".join(bridge))
    wanted = bridged | (asked - covered)
    others = [s for s in found if s.passage != first.passage and s.words & bridged]
    second = max(others, key=lambda s: (len(s.words & wanted), -found.index(s))) if others else None
    return Hops(first, bridge, second, covered)


def _query(question: str, hops: Hops) -> str | None:
    if not hops.bridge:
        return None
    missing = [w for w in _content_tokens(question) if stem(w.lower()) not in hops.covered]
    return " ".join([*hops.bridge, *missing])


def _answer(question: str, hops: Hops, lesson: Lesson | None) -> str | None:
    assert hops.first is not None
    asked = content_words(question)
    complete = asked <= hops.covered
    order = [hops.first] if complete or hops.second is None else [hops.second, hops.first]
    for s in order:
        known = asked if s is hops.first else asked | content_words(" ".join(hops.bridge))
        span = _span(s.text, lesson, known) if lesson else _longest_new_run(s.text, known)
        if span:
            return span
    return _longest_new_run(hops.first.text, asked)


def _span(sentence: str, lesson: Lesson, known: frozenset[str]) -> str | None:
    spans = [s for s in _spans(sentence, lesson.kind) if content_words(s[1]) - known]
    if lesson.cue:
        cued = [s for s in spans if _word_before(sentence, s[0]) == lesson.cue]
        spans = cued or spans
    return spans[0][1] if spans else None


def _spans(sentence: str, kind: str) -> list[tuple[int, str]]:
    if kind == "number":
        return [(m.start(), m.group()) for m in _NUMBER.finditer(sentence)]
    if kind == "name":
        return [_with_article(sentence, start, name) for start, name in _names_at(sentence)]
    found: list[tuple[int, str]] = []
    for m in _OBJECT.finditer(sentence):
        kept: list[str] = []
        for w in m.group(1).split():
            if w.lower() in STOPWORDS:
                break
            kept.append(w)
        if kept:
            found.append((m.start(1), " ".join(kept)))
    return found


def _with_article(sentence: str, start: int, name: str) -> tuple[int, str]:
    before = sentence[:start]
    if before.lower().endswith(" the ") or before.lower() == "the ":
        return start, f"{before[-4:].strip()} {name}"
    return start, name


def _word_before(sentence: str, start: int) -> str:
    before = [w for w in words(sentence[:start]) if w not in ("a", "an", "the")]
    return before[-1] if before else ""


def _longest_new_run(sentence: str, known: frozenset[str]) -> str | None:
    """The longest run of content words not in ``known``; punctuation and stopwords end a run."""
    runs: list[list[str]] = [[]]
    for token in _TOKEN.findall(sentence):
        low = token.lower()
        if low[0].isalnum() and low not in STOPWORDS and stem(low) not in known:
            runs[-1].append(token)
        elif runs[-1]:
            runs.append([])
    best = max(runs, key=len)
    return " ".join(best) if best else None


def names(text: str) -> list[str]:
    """Runs of capitalised words in ``text``, without leading stopwords ("The", "Its")."""
    return [name for _, name in _names_at(text)]


def _names_at(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for m in _NAME.finditer(text):
        parts = m.group().split()
        start = m.start()
        while parts and parts[0].lower() in STOPWORDS:
            start = text.index(parts[1], start) if len(parts) > 1 else start
            parts = parts[1:]
        if parts and parts[0] not in ("&",):
            found.append((start, " ".join(parts)))
    return found


def _content_tokens(text: str) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for token in _CONTENT_RUN.findall(text):
        low = token.lower()
        if low not in STOPWORDS and len(low) > 1 and stem(low) not in seen:
            seen.add(stem(low))
            kept.append(token)
    return kept


# -- learning from a demonstration -------------------------------------------------------------
def teacher(prompt: Prompt, f: FieldInfo, threshold: float) -> Demo | None:
    """The demonstration whose question is most like the current one (Jaccard overlap of content
    words, at least ``threshold``) among those with a text value for ``f``. Questions, not
    passages, are compared: the passages differ with every question, the kind of question
    is what a demonstration shows how to answer."""
    reading = reading_for(prompt, f)
    if reading is None:
        return None
    target = content_words(reading.question)
    best: tuple[float, Demo | None] = (0.0, None)
    for demo in prompt.demos:
        if not isinstance(demo.outputs.get(f.name), str):
            continue
        score = similarity(target, content_words(_question_of(prompt, demo)))
        if score > best[0]:
            best = (score, demo)
    return best[1] if best[0] >= threshold else None


def _question_of(prompt: Prompt, demo: Demo) -> str:
    asked: list[str] = []
    for field in prompt.inputs:
        if field.text and field.name in demo.inputs and _passages(field, "") is None:
            asked.append(demo.inputs[field.name])
    return "\n".join(asked)


def lesson_from(prompt: Prompt, f: FieldInfo, demo: Demo) -> Lesson | None:
    """What ``demo`` teaches about answering ``f``: the kind of span of its value, and the word
    before it in its passages when it holds them. None for a value its own passages do not
    hold (a fixed label, which is copied instead)."""
    value = demo.outputs.get(f.name)
    if not isinstance(value, str) or not content_words(value):
        return None
    reading = _reading(prompt.inputs, demo.inputs, f)
    if reading is None:  # a demonstration without passages still shows what an answer looks like
        return Lesson(_kind_of(value), "")
    wanted = content_words(value)
    first = words(value.strip().removeprefix("the "))[0]
    for _, text in reading.passages:
        for s in sentences(text):
            if wanted <= content_words(s) and (at := _word_at(s, first)) >= 0:
                return Lesson(_kind_of(value), _word_before(s, at))
    return None


def _word_at(sentence: str, word: str) -> int:
    match = re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", sentence.lower())
    return match.start() if match else -1


def _kind_of(value: str) -> str:
    bare = value.strip()
    if _NUMBER.fullmatch(bare):
        return "number"
    return "name" if " ".join(names(bare)) == bare.removeprefix("the ") else "object"
