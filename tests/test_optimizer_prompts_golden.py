"""Golden files: the exact prompts each instruction optimizer sends to the prompt model.

One file per optimizer under ``tests/golden/prompts/``: the first request of every kind the
optimizer makes (one per distinct system message), on a small slice of examples/triage with
the stand-in model and one thread, so a reviewer can compare castlm's wording with the
published optimizers' (see docs/optimizers/). Set ``CASTLM_UPDATE_GOLDEN=1`` to rewrite them
after an intended change, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from castlm import LMRequest
from castlm.compiler.optimizers.propose import Evidence
from pydantic import BaseModel
from support.triage_task import Roles, triage

GOLDEN = Path(__file__).parent / "golden" / "prompts"
TEMPLATE = "Rewrite the instruction for a support-desk assistant; keep it under 80 words."

OPTIONS: dict[str, dict[str, Any]] = {
    "copro": {"breadth": 2, "depth": 2, "max_evidence": 3},
    "mipro": {
        "auto": None,
        "num_candidates": 3,
        "num_trials": 2,
        "max_bootstrapped_demos": 1,
        "max_labeled_demos": 1,
        "proposal_examples": 2,
        "view_data_batch_size": 1,  # two batches: the second sees the first's observations
    },
    "gepa": {"max_metric_calls": 30, "reflection_minibatch_size": 2, "use_merge": False},
    "simba": {"bsize": 3, "num_candidates": 2, "max_steps": 1, "max_demos": 0},
}


def prompts(name: str, options: dict[str, Any]) -> list[LMRequest]:
    """The first prompt-model request of each kind, in the order they were sent."""
    task = triage()
    roles = Roles()
    task.compile(name, options, threads=1, roles=roles, train=task.train[:8])
    first: dict[str, LMRequest] = {}
    for request in roles.prompt.requests:
        first.setdefault(request.messages[0]["content"], request)
    return list(first.values())


def render(requests: list[LMRequest]) -> str:
    parts = []
    for number, request in enumerate(requests, 1):
        parts.append(f"=== prompt {number} (temperature {request.temperature}) ===")
        for message in request.messages:
            parts.append(f"--- {message['role']} ---\n{message['content']}")
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_prompts_match_the_golden_file(name: str) -> None:
    text = render(prompts(name, OPTIONS[name]))
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("CASTLM_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing {path}: run with CASTLM_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name}'s prompts changed: review {path}"


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_prompt_template_replaces_the_request_and_keeps_the_data(name: str) -> None:
    default = prompts(name, OPTIONS[name])
    custom = prompts(name, {**OPTIONS[name], "prompt_template": TEMPLATE})
    proposals = [r for r in custom if TEMPLATE in r.messages[0]["content"]]
    assert proposals, f"{name} never used the template"
    # The data fields are still sent: the user message has the same headers as the default.
    shown = {line for r in default for line in r.messages[-1]["content"].splitlines()}
    for request in proposals:
        headers = [h for h in request.messages[-1]["content"].splitlines() if h.startswith("[[")]
        assert headers and set(headers) <= shown


class Customer(BaseModel):
    plan: str
    product: str


def test_evidence_writes_nested_outputs_as_json() -> None:
    """Nested outputs used to be written with str() (``plan='free' product=...``)."""
    record = Evidence({"ticket": "hi"}, outputs={"customer": Customer(plan="free", product="api")})
    assert '"customer": {"plan": "free", "product": "api"}' in record.record()
