"""Which parts of the offline stand-in (runtime/testing/) a package compiled with it vendors.

A package runs its program; it never optimizes, so the stand-in's answers to the optimizers'
prompts stay out of it unless its program can ask for them too. Every package with the
stand-in gets the model itself and ScriptedLM (a test double users may test their package
with); each other part comes only with what can use it:

* the agent part (``_standin_react.py``): with ReAct or CodeAct (their steps, and the answer
  written after a trajectory), or a program whose own source names one of its fields;
* the proposal part (``_standin_propose.py``): with Refine (its feedback predictor asks for
  ``advice``), or a program whose own source names ``advice`` or ``proposed_instruction``;
* the embedder (``_standin_embed.py``): with ``embed/`` (KNN demos), where
  ``CASTLM_EMBEDDER=standin`` chooses it.

A field name built at run time escapes the source check: the stand-in then refuses the prompt
with the castlm.toml setting that vendors the part (testing/_standin_parts.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from castlm.compiler.emit.rewrite import RUNTIME_PACKAGE
from castlm.testing._standin_parts import AGENT_FIELDS, PROPOSAL_FIELDS

STANDIN_LAYER = "testing"
CORE = ("testing._standin", "testing._scripted")
AGENT = "testing._standin_react"
PROPOSALS = "testing._standin_propose"
EMBEDDER = "testing._standin_embed"
STANDIN_PARTS = (AGENT, PROPOSALS, EMBEDDER)

# part -> the runtime modules whose use by the package's own files sends prompts needing it
# (not their mere presence: Refine imports a helper of ReAct's module, never runs ReAct).
USED_BY: dict[str, tuple[str, ...]] = {
    AGENT: ("agents._react", "agents._codeact"),
    PROPOSALS: ("agents._refine",),
}
# part -> the prompt fields it answers, looked for in the package's own files
FIELDS: dict[str, tuple[str, ...]] = {AGENT: AGENT_FIELDS, PROPOSALS: PROPOSAL_FIELDS}
EMBED = "embed._embed"  # makes the stand-in embedder for the name "standin"


def standin_modules(
    files: Mapping[str, bytes], package: str, uses: Collection[str], modules: Collection[str]
) -> set[str]:
    """The stand-in's modules for a package whose files are ``files``, which use the runtime
    modules ``uses`` and vendor ``modules`` besides the stand-in."""
    named = _words(files, package)
    chosen = set(CORE)
    for part, users in USED_BY.items():
        if any(m in uses for m in users) or named & set(FIELDS[part]):
            chosen.add(part)
    if EMBED in modules:
        chosen.add(EMBEDDER)
    return chosen


def _words(files: Mapping[str, bytes], package: str) -> set[str]:
    """Every word of the package's own Python files (names, strings and comments alike: a
    signature made at run time names its fields in strings)."""
    own = [
        data.decode("utf-8", "replace")
        for path, data in files.items()
        if path.endswith(".py") and not path.startswith(f"{package}/{RUNTIME_PACKAGE}/")
    ]
    return {w for text in own for w in re.findall(r"\w+", text)}
