"""``castlm diff OLD NEW``: what changed between two builds of a program.

Both builds are read as they are on disk: the manifest (settings, LMs, scores, file hashes)
and the frozen parameters, which the package's ``_frozen`` module holds (imported under a
name of its own, see package_import.py). The result is JSON data; diff_text.py prints it.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CompileError
from .package_import import import_package, package_folder

# Manifest keys compared as build settings and as LMs; scores and files have sections too.
SETTINGS = (
    "program", "castlm_version", "optimizer", "seed", "lm_settings", "predictor_lms",
    "budget", "verified", "stopped", "source_hash", "dataset_hash",
)  # fmt: skip
LMS = ("lm", "teacher_lm", "prompt_lm")


def diff_builds(old: Path, new: Path) -> dict[str, Any]:
    """Every difference between the builds in ``old`` and ``new``; ``identical`` says
    whether there is none."""
    (old_dir, old_manifest), (new_dir, new_manifest) = package_folder(old), package_folder(new)
    data: dict[str, Any] = {
        "old": str(old),
        "new": str(new),
        "predictors": _predictors(_params(old_dir), _params(new_dir)),
        "settings": _changed(old_manifest, new_manifest, SETTINGS),
        "lms": _changed(old_manifest, new_manifest, LMS),
        "scores": _changed(
            _mapping(old_manifest.get("scores")), _mapping(new_manifest.get("scores"))
        ),
        "files": _files(_mapping(old_manifest.get("files")), _mapping(new_manifest.get("files"))),
    }
    data["identical"] = not any(
        data[key] for key in ("predictors", "settings", "lms", "scores")
    ) and not any(data["files"].values())
    return data


def _params(folder: Path) -> dict[str, dict[str, Any]]:
    """``{predictor: {"instructions", "demos", "model", "knn"}}``; an ensemble's members
    are named ``member<i>.<predictor>``."""
    package = import_package(folder)
    try:
        frozen = importlib.import_module(f"{package.__name__}._frozen")
    except Exception as exc:
        raise CompileError(
            f"cannot read the frozen parameters: {type(exc).__name__}: {exc}",
            path=folder / "_frozen.py",
        ) from exc
    if hasattr(frozen, "MEMBERS"):
        return {
            f"member{i}.{name}": _plain(params)
            for i, member in enumerate(frozen.MEMBERS)
            for name, params in member.items()
        }
    return {name: _plain(params) for name, params in frozen.PARAMS.items()}


def _plain(params: Any) -> dict[str, Any]:
    return {
        "instructions": str(params.instructions),
        "demos": [_canonical(demo) for demo in params.demos],
        "model": params.model,
        "knn": None if params.knn is None else _knn(params.knn),
    }


def _knn(knn: Any) -> Any:
    if dataclasses.is_dataclass(knn) and not isinstance(knn, type):
        return {f.name: repr(getattr(knn, f.name))[:200] for f in dataclasses.fields(knn)}
    return repr(knn)[:200]


def _canonical(demo: Mapping[str, Any]) -> str:
    return json.dumps(demo, sort_keys=True, ensure_ascii=False, default=repr)


def _predictors(
    old: Mapping[str, dict[str, Any]], new: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in sorted({*old, *new}):
        if name not in old or name not in new:
            found[name] = {"status": "added" if name in new else "removed"}
            continue
        change = _predictor(name, old[name], new[name])
        if change:
            found[name] = {"status": "changed", **change}
    return found


def _predictor(name: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old["instructions"] != new["instructions"]:
        lines = difflib.unified_diff(
            old["instructions"].splitlines(),
            new["instructions"].splitlines(),
            f"old/{name}",
            f"new/{name}",
            lineterm="",
        )
        change["instructions"] = list(lines)
    before, after = Counter(old["demos"]), Counter(new["demos"])
    added, removed = list((after - before).elements()), list((before - after).elements())
    if added or removed:
        counts = [len(old["demos"]), len(new["demos"])]
        change["demos"] = {
            "added": [json.loads(d) for d in added],
            "removed": [json.loads(d) for d in removed],
            "count": counts,
        }
    settings = _changed(old, new, ("model", "knn"))
    if settings:
        change["settings"] = settings
    return change


def _changed(
    old: Mapping[str, Any], new: Mapping[str, Any], keys: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """``{key: {"old": value, "new": value}}`` for the keys whose values differ."""
    names = keys if keys is not None else tuple(sorted({*old, *new}))
    return {
        key: {"old": old.get(key), "new": new.get(key)}
        for key in names
        if old.get(key) != new.get(key)
    }


def _files(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}
