"""``castlm diff``'s human-readable output, from the data diff.py computes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def render(data: Mapping[str, Any]) -> str:
    lines = [f"castlm diff {data['old']} {data['new']}"]
    if data["identical"]:
        return "\n".join([*lines, "no differences"]) + "\n"
    for name, change in data["predictors"].items():
        lines += _predictor(name, change)
    for title, key in (("settings", "settings"), ("LMs", "lms"), ("scores", "scores")):
        if data[key]:
            lines.append(f"{title}:")
            lines += [
                f"  {k}: {_value(v['old'])} -> {_value(v['new'])}" for k, v in data[key].items()
            ]
    files = data["files"]
    if any(files.values()):
        lines.append("files:")
        for kind, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            lines += [f"  {sign} {path}" for path in files[kind]]
    return "\n".join(lines) + "\n"


def _predictor(name: str, change: Mapping[str, Any]) -> list[str]:
    if change["status"] != "changed":
        return [f"predictor {name}: {change['status']}"]
    lines = [f"predictor {name}:"]
    if "instructions" in change:
        lines.append("  instructions:")
        lines += [f"    {line}" for line in change["instructions"]]
    if "demos" in change:
        demos = change["demos"]
        before, after = demos["count"]
        lines.append(
            f"  demos: {before} -> {after} ({len(demos['added'])} added, "
            f"{len(demos['removed'])} removed)"
        )
        lines += [f"    + {_value(demo)}" for demo in demos["added"]]
        lines += [f"    - {_value(demo)}" for demo in demos["removed"]]
    for key, value in change.get("settings", {}).items():
        lines.append(f"  {key}: {_value(value['old'])} -> {_value(value['new'])}")
    return lines


def _value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
