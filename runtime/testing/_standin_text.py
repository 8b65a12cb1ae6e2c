"""Text handling of the stand-in model: words, phrase matching, similarity and seeded choices.

Everything here is deliberately crude and fully deterministic: the stand-in has to behave the
same on every machine and every run, so there is no randomness that is not derived from a hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache

_STOPWORD_TEXT = """
    a an the and or but if then else of to in on at by for with from into onto about as is are
    was were be been being am it its it's this that these those i i'm i've me my mine we we're our
    ours you you're your yours he him his she her they them their there here what which who whom
    whose when where why how all any some each every both either neither not no nor do does did
    done doing have has had having can could would should will shall may might must just so very
    too also only than up down out over under again once more most other such own same few
    off per via yet still even ever please hi hello thanks thank regards dear get got after before
    since because while though although until within without between through during against
    among around can't don't didn't won't isn't doesn't i'd i'll we'd we'll it'll that's
    one ones like"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Suffixes a phrase may carry in the text and still count as mentioned ("refund" is mentioned by
# "refunds" and "refunded"), so written rules generalize the way a reader expects.
_INFLECTION = r"(?:s|es|ed|d|ing)?"
_STEM_SUFFIXES = ("ing", "ed", "es", "s", "e")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits and in-word apostrophes)."""
    return _WORD.findall(text.lower())


def stem(word: str) -> str:
    """A crude stem, enough to make "charge", "charged" and "charges" one word."""
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> frozenset[str]:
    """Stems of the words that carry meaning (stopwords and one-letter words removed)."""
    return frozenset(stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two content-word sets: shared words over all words."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@cache
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(w) for w in phrase.lower().split()]
    return re.compile(r"(?<![\w])" + r"\s+".join(parts) + _INFLECTION + r"(?![\w])")


def mention_at(text: str, phrase: str) -> int:
    """Where ``text`` first mentions ``phrase`` (case-insensitive, whole words), or -1."""
    if not phrase.strip():
        return -1
    match = _phrase_pattern(" ".join(phrase.split())).search(text.lower())
    return match.start() if match else -1


def mentions(text: str, phrase: str) -> bool:
    return mention_at(text, phrase) >= 0


def sentences(text: str) -> list[str]:
    """The non-empty sentences (or lines) of ``text``."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def seed_of(*material: object) -> int:
    """A stable 64-bit number derived from ``material`` (the stand-in's only source of chance)."""
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")
