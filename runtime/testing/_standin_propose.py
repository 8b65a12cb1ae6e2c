"""The stand-in model as a prompt writer: it turns labelled examples into rules it can follow.

When a prompt's outputs include ``proposed_instruction``, its inputs are read as

* ``current_instruction``: the instruction to improve (kept, verbatim, at the start);
* ``examples``: one JSON object per line with ``inputs`` (dict), and optionally ``outputs``
  (what the program answered), ``expected`` (the labels) and ``feedback`` (ignored);
* ``tip``: optional advice, which changes the style of the proposal.

For every categorical label (booleans, and text labels with few distinct values) and each of
its values, the proposer looks for the word or two-word phrase of the inputs that best singles
out that value (a word: not a stopword, three letters or more; two words: two such words, or one
and a particle as in "log in"). With ``a`` = examples with the value that mention the phrase,
``b`` = examples with another value that mention it, and ``n`` = examples with the value::

    score = a / (a + b + 1) * a / n        (purity, smoothed, times coverage)

A phrase qualifies with ``a >= min_support`` and ``a / (a + b) >= min_precision``; the best
``per_value`` qualifying phrases of each value become rules, in the grammar of
``_standin_rules``, ordered by how many of the program's answers they would fix, then by score,
at most ``max_rules`` (12) in all.
Phrases the current instruction's rules already use are not used again. Phrases are counted
with the same matcher that applies rules, so every rule written is one the stand-in follows.

Without a tip and without sampling the settings are fixed (one phrase per value, precision 0.75,
support 2). A tip, or sampling (temperature > 0, with its rollout), draws other settings from a
hash: more or fewer rules, stricter or looser evidence, other phrasings, and, when sampling, a
random 80% of the examples. A tip asking for brevity caps the rules; one asking for detail
allows two phrases per value.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..base._narrow import is_object
from ._standin_parts import ADVICE_FIELD, PROPOSAL_FIELD
from ._standin_prompt import Prompt
from ._standin_rules import parse_rules, write_rule
from ._standin_text import STOPWORDS, mentions, seed_of, words

_MAX_EXAMPLES = 200
_BRIEF = frozenset({"brief", "concise", "short", "simple", "fewer", "minimal"})
# Two-word phrases are two content words or a phrasal verb ("log in", "locked out"): a phrase
# like "be great" or "mode to" is discriminative by accident, not by meaning.
_PARTICLES = frozenset({"in", "out", "up", "down", "off", "on", "over"})
_DETAILED = frozenset({"detailed", "thorough", "comprehensive", "specific", "exhaustive", "more"})


@dataclass(frozen=True)
class Observation:
    text: str
    expected: dict[str, Any]
    answered: dict[str, Any]


@dataclass(frozen=True)
class Knobs:
    per_value: int = 1
    min_precision: float = 0.75
    min_support: int = 2
    form: str = "when"
    bigrams: bool = True
    keep: float = 1.0
    max_rules: int = 12


@dataclass(frozen=True)
class Candidate:
    path: str
    value: Any
    phrase: str
    score: float
    fixes: int


def propose(values: Mapping[str, str], sample_seed: int | None) -> str:
    """A new instruction: the current one followed by rules learnt from the examples."""
    current = values.get("current_instruction", "").strip()
    knobs = choose_knobs(values.get("tip", ""), sample_seed)
    observed, subject = read_examples(values.get("examples", ""))
    observed = _subsample(observed, knobs, sample_seed)
    stated = {p.lower() for r in parse_rules(current) for p in r.phrases}
    picked = [c for c in find_candidates(observed, knobs) if c.phrase not in stated]
    picked = picked[: knobs.max_rules]
    rules = [write_rule(knobs.form, subject, c.phrase, c.path, c.value) for c in picked]
    if not rules:
        return current or "Give every output for the inputs."
    return "\n".join([current, "", *rules] if current else rules)


def advise(values: Mapping[str, str], sample_seed: int | None) -> str:
    """Advice to append: the rules :func:`propose` would add, without the instruction."""
    current = values.get("current_instruction", "").strip()
    proposal = propose(values, sample_seed)
    if proposal == current or not proposal.startswith(current):
        return "" if proposal in (current, "Give every output for the inputs.") else proposal
    return proposal[len(current) :].strip()


def given_for(prompt: Prompt, sample_seed: int | None) -> dict[str, Any]:
    """What this module decides for ``prompt``: its proposal and advice outputs."""
    writers = {PROPOSAL_FIELD: propose, ADVICE_FIELD: advise}
    return {
        f.name: writers[f.name](prompt.values, sample_seed)
        for f in prompt.outputs
        if f.name in writers
    }


def choose_knobs(tip: str, sample_seed: int | None) -> Knobs:
    if not tip.strip() and sample_seed is None:
        return Knobs()
    rng = random.Random(seed_of(tip.strip(), sample_seed))
    knobs = Knobs(
        per_value=rng.choice((1, 1, 2)),
        min_precision=rng.choice((0.67, 0.75, 0.85)),
        form=rng.choice(("when", "if", "plural")),
        bigrams=rng.random() < 0.7,
        keep=1.0 if sample_seed is None else 0.8,
        max_rules=rng.choice((6, 9, 12)),
    )
    asked = set(words(tip))
    if asked & _BRIEF:
        return Knobs(1, max(knobs.min_precision, 0.75), 2, knobs.form, knobs.bigrams, knobs.keep, 6)
    if asked & _DETAILED:
        return Knobs(2, knobs.min_precision, 2, knobs.form, knobs.bigrams, knobs.keep, 16)
    return knobs


# -- reading the examples ---------------------------------------------------------------------


def read_examples(text: str) -> tuple[list[Observation], str]:
    """The examples, and the subject rules should name (the one input field, else ``input``)."""
    found: list[Observation] = []
    keys: set[str] = set()
    for line in text.splitlines()[:_MAX_EXAMPLES]:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not is_object(row) or not is_object(row.get("inputs")):
            continue
        keys.update(row["inputs"])
        inputs = [v if isinstance(v, str) else json.dumps(v) for v in row["inputs"].values()]
        expected, answered = _flatten(row.get("expected")), _flatten(row.get("outputs"))
        found.append(Observation("\n".join(inputs), expected, answered))
    return found, (next(iter(keys)) if len(keys) == 1 else "input")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not is_object(data):
        return {}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if is_object(value):
            flat.update(_flatten(value, f"{path}."))
        elif isinstance(value, bool | str):
            flat[path] = value
    return flat


def _subsample(observed: list[Observation], knobs: Knobs, seed: int | None) -> list[Observation]:
    if knobs.keep >= 1.0:
        return observed
    rng = random.Random(seed)
    kept = [o for o in observed if rng.random() < knobs.keep]
    return kept if len(kept) * 2 >= len(observed) else observed


def categorical(observed: list[Observation]) -> dict[str, list[Any]]:
    """Label paths whose values look like categories, with their values (first seen first)."""
    seen: dict[str, list[Any]] = {}
    for o in observed:
        for path, value in o.expected.items():
            seen.setdefault(path, []).append(value)
    result: dict[str, list[Any]] = {}
    for path, found in seen.items():
        distinct = list(dict.fromkeys(found))
        if all(isinstance(v, bool) for v in found) or (
            all(isinstance(v, str) and 0 < len(v) <= 40 for v in found)
            and len(distinct) <= max(2, len(found) // 2)
        ):
            result[path] = distinct
    return result


# -- finding rules ----------------------------------------------------------------------------


def find_candidates(observed: list[Observation], knobs: Knobs) -> list[Candidate]:
    matcher = _Matcher(observed)
    chosen: list[Candidate] = []
    for path, found in categorical(observed).items():
        labelled = [i for i, o in enumerate(observed) if path in o.expected]
        for value in found:
            mine = {i for i in labelled if observed[i].expected[path] == value}
            others = set(labelled) - mine
            chosen.extend(_best_for(path, value, mine, others, matcher, observed, knobs))
    return sorted(chosen, key=lambda c: (-c.fixes, -c.score, c.path, c.phrase))


def _best_for(
    path: str,
    value: Any,
    mine: set[int],
    others: set[int],
    matcher: _Matcher,
    observed: list[Observation],
    knobs: Knobs,
) -> list[Candidate]:
    scored: list[tuple[float, str]] = []
    for phrase in _phrases((observed[i].text for i in sorted(mine)), knobs.bigrams):
        hits = matcher.hits(phrase)
        a, b = len(hits & mine), len(hits & others)
        if a >= knobs.min_support and a / (a + b) >= knobs.min_precision:
            scored.append((a / (a + b + 1) * a / len(mine), phrase))
    scored.sort(key=lambda s: (-s[0], len(s[1]), s[1]))
    picked: list[Candidate] = []
    for score, phrase in scored:
        if len(picked) == knobs.per_value:
            break
        if any(phrase in c.phrase or c.phrase in phrase for c in picked):
            continue
        fixes = sum(1 for i in mine & matcher.hits(phrase) if _wrong(observed[i], path, value))
        picked.append(Candidate(path, value, phrase, score, fixes))
    return picked


def _wrong(observation: Observation, path: str, value: Any) -> bool:
    return path in observation.answered and observation.answered[path] != value


def _phrases(texts: Iterable[str], bigrams: bool) -> list[str]:
    found: dict[str, None] = {}
    for text in texts:
        tokens = words(text)
        for w in tokens:
            if _content(w):
                found.setdefault(w)
        if bigrams:
            for w1, w2 in itertools.pairwise(tokens):
                if _content(w1) and (_content(w2) or w2 in _PARTICLES):
                    found.setdefault(f"{w1} {w2}")
    return list(found)


def _content(word: str) -> bool:
    return word not in STOPWORDS and len(word) >= 3 and not word.isdigit()


class _Matcher:
    """Which examples mention a phrase, computed once per phrase."""

    def __init__(self, observed: list[Observation]) -> None:
        self._texts = [o.text for o in observed]
        self._cache: dict[str, set[int]] = {}

    def hits(self, phrase: str) -> set[int]:
        if phrase not in self._cache:
            self._cache[phrase] = {i for i, t in enumerate(self._texts) if mentions(t, phrase)}
        return self._cache[phrase]
