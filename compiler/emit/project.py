"""What the README and ``pyproject.toml`` templates show: plain values, escaped by the filters."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from castlm.compiler.emit import dependencies, layout
from castlm.compiler.emit.entry import EntryPoints
from castlm.compiler.emit.request import EmitRequest
from castlm.compiler.emit.templating import Escaped, code
from castlm.core._knn import knn_demos
from castlm.lm._lm_factory import STANDIN

# The nearest-neighbour demo pools, beside _frozen.py (JSON: any text, one entry per line).
KNN_FILE = "_knn.json"


@dataclass(frozen=True)
class PredictorDoc:
    name: str
    signature: str | None
    demo_count: int
    instructions: str
    member: int | None = None  # in an ensemble
    model: str | None = None  # replaces the LM's model (fine-tuned)
    knn_k: int | None = None
    pool_size: int = 0


def pyproject_context(request: EmitRequest) -> dict[str, Any]:
    return {
        "distribution": request.package.replace("_", "-"),
        "version": request.version,
        "description": f"The castlm program {request.module_class}, compiled.",
        "dependencies": dependencies.runtime_requirements(),
        "litellm": dependencies.litellm_requirements(),
        "package": request.package,
        "package_glob": f"{request.package}.*",
        "package_data": ["py.typed", "manifest.json", *_data_files(request)],
    }


def _data_files(request: EmitRequest) -> list[str]:
    """Data files of the package that ``load()`` reads (the KNN demo pools)."""
    knn = any(p.knn is not None for params in request.param_sets for p in params.values())
    return [KNN_FILE] if knn else []


def readme_context(
    request: EmitRequest, entry: EntryPoints, include: Collection[str]
) -> dict[str, Any]:
    """The README's values; ``include`` names the optional runtime parts the package vendors
    (runtime_features.FEATURES), so that it documents only the LM names and chains it runs."""
    manifest = request.manifest
    module = request.ir.module(request.module_class)
    left_out = [name for name in _LEFT_OUT if name not in include]
    return {
        "package": request.package,
        "cls": request.module_class,
        "source_name": request.program_path.name,
        "frozen_path": f"{request.package}/_frozen.py",
        "runtime_path": f"{request.package}/_runtime",
        "manifest_path": f"{request.package}/manifest.json",
        "docstring": module.docstring if module is not None else None,
        "lm_name": request.lm_name,
        "standin": request.lm_name == STANDIN,
        "lm_names": _lm_names(request.lm_name == STANDIN, "litellm" in include),
        "fallback": "fallback" in include,
        "left_out": [code(_LEFT_OUT[name]) for name in left_out],
        "left_out_names": code(json.dumps(left_out)),
        "optimizer": _optimizer_name(manifest.get("optimizer")),
        "metric": _text_or_none(_mapping(manifest.get("scores")).get("metric")),
        "scores": _scores(manifest.get("scores")),
        "castlm_version": _text_or_none(manifest.get("castlm_version")),
        "usage": usage(request.package, entry),
        "predictors": _predictors(request),
        "members": len(request.members),
        "reducer": request.reducer[1] if request.reducer else "majority",
        "knn": bool(_data_files(request)),
        "fine_tuned": any(
            p.model is not None for params in request.param_sets for p in params.values()
        ),
    }


# The optional parts a package's user picks where it runs (an LM name, CASTLM_MODEL__<PATH>),
# so its README says which ones it lacks; the program's own parts (Image, KNN...) it has.
_LEFT_OUT = {
    "litellm": 'the litellm backend (`"litellm/<provider>/<model>"` names)',
    "fallback": "fallback chains (comma-separated names in `CASTLM_MODEL__<PREDICTOR>`)",
}


def _lm_names(standin: bool, litellm: bool) -> list[Escaped]:
    names = ['`"openai/<model>"` or a bare model name: any OpenAI-compatible endpoint']
    if litellm:
        names.append('`"litellm/<provider>/<model>"`: litellm (install the `litellm` extra)')
    if standin:
        names.append('`"standin"`: castlm\'s offline stand-in')
    return [code(name) for name in names]


def usage(package: str, entry: EntryPoints) -> str:
    """A Python snippet showing the entry points with this program's parameters."""
    signature = layout.bracketed("def run(", entry.parameter_list, f") -> {entry.returns}: ...")
    required = [f"{p.name}=..." for p in entry.params if p.default is None and not p.star]
    call = ", ".join(required)
    return (
        f"from {package} import arun, load, run\n\n"
        f"# {entry.module_class}'s forward, as a function (arun is the async twin):\n"
        f"{signature}\n\n"
        f"result = run({call})\n"
        f"result = await arun({call})\n\n"
        f"# A program of your own, e.g. against another endpoint:\n"
        f'program = load("openai/my-model", base_url="http://localhost:8000/v1")\n'
        f"result = program.forward({call})"
    )


def _predictors(request: EmitRequest) -> list[PredictorDoc]:
    module = request.ir.module(request.module_class)
    docs = []
    for member, param_set in enumerate(request.param_sets):
        for name, params in param_set.items():
            predictor = module.predictor(name) if module is not None else None
            docs.append(
                PredictorDoc(
                    name=name,
                    signature=predictor.signature if predictor is not None else None,
                    demo_count=len(params.demos),
                    instructions=params.instructions,
                    member=member if request.members else None,
                    model=params.model,
                    knn_k=knn.k if (knn := knn_demos(params)) is not None else None,
                    pool_size=len(knn.pool.entries) if knn is not None else 0,
                )
            )
    return docs


def _optimizer_name(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    return _text_or_none(value)


def _scores(value: object) -> list[tuple[str, float]]:
    """The numeric entries of ``scores`` (baseline, compiled, ...), by name."""
    numbers = {
        str(name): score
        for name, score in _mapping(value).items()
        if isinstance(score, int | float) and not isinstance(score, bool)
    }
    return sorted(numbers.items())


def _mapping(value: object) -> Mapping[object, object]:
    return value if isinstance(value, Mapping) else {}


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
