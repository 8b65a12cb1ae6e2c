"""The runtime parts a package vendors only when its program, its LM or its config asks.

Most of the runtime a package needs follows from its files' imports (runtime_copy.py). A few
parts sit behind an import the runtime makes inside ``try`` (an ``optional`` edge in
runtime_graph.py, not followed by the closure), because only a program that uses them needs
them: a ``litellm/...`` model, a fallback chain (``"a,b"`` in ``$CASTLM_MODEL__<PATH>``),
History or Image fields, KNN demos, castlm._aforward for a module without ``aforward``, and
the stand-in's agent and proposal answers (runtime_standin.py).
This module decides which of them a package gets; the runtime names castlm.toml's
``[runtime] include`` when one is missing.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable, Mapping

from castlm.base._features import PARTS
from castlm.lm._lm_factory import LITELLM_PREFIX

# ``[runtime] include`` name -> the runtime modules it vendors (with what they import).
FEATURES: dict[str, tuple[str, ...]] = {
    "litellm": ("lm._litellm",),
    "fallback": ("lm._fallback",),
    "history": ("core._history",),
    "image": ("base._image",),
    # The stand-in's parts (runtime_standin.py decides them for a package compiled with it;
    # naming one vendors the stand-in).
    "standin-agent": ("testing._standin_react",),
    "standin-proposals": ("testing._standin_propose",),
}
assert set(FEATURES) == set(PARTS), "base/_features.py names the same parts"

AFORWARD = "core._aforward"


def check_include(names: object) -> tuple[str, ...]:
    """``[runtime] include`` checked: a list of FEATURES names; a ValueError says the fix."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(
            f'runtime.include must be a list of names such as ["litellm"], got {names!r}'
        )
    for name in names:
        if name not in FEATURES:
            close = difflib.get_close_matches(name, list(FEATURES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"runtime.include names {name!r}, which is no part of the runtime; {hint}"
                f"the parts are {', '.join(FEATURES)}"
            )
    return tuple(dict.fromkeys(names))


def lm_features(lm_name: str) -> set[str]:
    """What the package's own LM name needs: the litellm backend for ``litellm/...``. (A
    fallback chain is only ever chosen where the package runs: ``include`` vendors it.)"""
    return {"litellm"} if lm_name.strip().startswith(LITELLM_PREFIX) else set()


def feature_modules(features: Iterable[str]) -> set[str]:
    return {module for feature in features for module in FEATURES[feature]}


def needs_aforward(sources: Mapping[str, bytes]) -> bool:
    """Whether a class among ``sources`` (path -> Python source: the package's files and the
    vendored runtime modules) defines ``forward`` without ``aforward``: Module.acall then
    makes its async twin with castlm._aforward, else runs forward in a thread."""
    for path, data in sources.items():
        if path.endswith(".py") and any(_forward_only(c) for c in _classes(data, path)):
            return True
    return False


def _classes(data: bytes, path: str) -> list[ast.ClassDef]:
    tree = ast.parse(data, filename=path)
    return [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]


def _forward_only(cls: ast.ClassDef) -> bool:
    methods = {
        node.name for node in cls.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    return "forward" in methods and "aforward" not in methods
