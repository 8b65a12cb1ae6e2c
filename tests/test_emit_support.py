"""Shared by the emit and verify tests: a sample program and helpers to emit and import it.

(Named ``test_*`` only so it sits with the tests it serves; it defines no tests.)
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from castlm import PredictorParams
from castlm.compiler.analyze import analyze_file
from castlm.compiler.emit import EmitRequest, render_package, write_package

PROGRAM = '''\
"""Support triage."""

from __future__ import annotations

from typing import Literal, Optional

import castlm as cl
from pydantic import BaseModel

import helpers
from helpers import Channel


class Address(BaseModel):
    city: str
    country: str = "FR"


class Customer(BaseModel):
    name: str
    address: Address


class Triage(cl.Signature):
    """Classify a support ticket by urgency."""

    ticket: str = cl.InputField(desc="The customer's message")
    customer: Optional[Customer] = cl.InputField(default=None)
    urgency: Literal["low", "high"] = cl.OutputField()


class Reply(cl.Signature):
    """Write a short reply to the customer."""

    ticket: str = cl.InputField()
    urgency: str = cl.InputField()
    reply: str = cl.OutputField()


class Support(cl.Module):
    """Triage a ticket, then draft a reply."""

    def __init__(self) -> None:
        self.triage = cl.Predict(Triage)
        self.draft = cl.ChainOfThought(Reply)

    def forward(
        self,
        ticket: str,
        *,
        customer: Optional[Customer] = None,
        channel: Channel = Channel.EMAIL,
        lang: Literal["en", "fr"] = "en",
    ) -> Reply:
        text = helpers.clean(ticket)
        triage = self.triage(ticket=text, customer=customer)
        return self.draft(ticket=text, urgency=triage.urgency)
'''

HELPERS = '''\
"""Project-local helpers that the program imports; vendored into the package."""

import enum


class Channel(enum.Enum):
    EMAIL = "email"
    CHAT = "chat"


def clean(text: str) -> str:
    return " ".join(text.split())
'''

PARAMS = {
    "triage": PredictorParams(
        instructions=(
            "Classify the ticket's urgency.\n"
            'Anything that says "urgent", "down" or "fire" is high; the rest is low.'
        ),
        demos=(
            {
                "ticket": "The site is down!",
                "customer": {"name": "Ada", "address": {"city": "Paris", "country": "FR"}},
                "urgency": "high",
            },
        ),
    ),
    "draft": PredictorParams(instructions="Be brief and kind; sign as 'Support'."),
}

DEV_INPUTS: list[dict[str, Any]] = [
    {"ticket": "Our   printer is on fire"},
    {
        "ticket": "How do I change my password?",
        "customer": {"name": "Bob", "address": {"city": "Lyon"}},
        "lang": "fr",
    },
]

MANIFEST: dict[str, Any] = {
    "castlm_version": "0.1.0",
    "optimizer": {"name": "bootstrap", "max_demos": 2},
    "scores": {"baseline": 0.5, "compiled": 0.875},
    "lm_name": "standin",
}


def write_sources(directory: Path, program: str = PROGRAM) -> Path:
    """The sample project (program + helpers.py) in ``directory``; returns the program path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "helpers.py").write_text(HELPERS, encoding="utf-8")
    path = directory / "support.py"
    path.write_text(program, encoding="utf-8")
    return path


def request_for(
    program_path: Path,
    package: str,
    *,
    params: Mapping[str, PredictorParams] = PARAMS,
    module_class: str = "Support",
    lm_name: str = "standin",
    local_modules: Mapping[str, Path] | Sequence[Path] | None = None,
) -> EmitRequest:
    if local_modules is None:  # as the pipeline passes them: files, named by their place
        helpers = program_path.parent / "helpers.py"
        local_modules = (helpers,) if helpers.exists() else ()
    return EmitRequest(
        program_path=program_path,
        module_class=module_class,
        package=package,
        params=params,
        lm_name=lm_name,
        manifest=MANIFEST,
        ir=analyze_file(program_path),
        local_modules=local_modules,
        # What the pipeline freezes after compiling with the stand-in, which constrains no
        # output: packages then keep the chat format against any endpoint.
        lm_settings={"structured_output": "off"} if lm_name == "standin" else {},
    )


def emit(request: EmitRequest, out_dir: Path) -> Path:
    write_package(render_package(request), out_dir)
    return out_dir


@contextlib.contextmanager
def imported(out_dir: Path, package: str) -> Iterator[ModuleType]:
    """The emitted package, imported in this process; forgotten again afterwards."""
    sys.path.insert(0, str(out_dir))
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(out_dir))
        for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
            del sys.modules[name]


@contextlib.contextmanager
def user_program(program_path: Path) -> Iterator[ModuleType]:
    """The user's program imported in-process (with castlm), as the compiler runs it."""
    name = f"_castlm_user_{program_path.stem}"
    sys.path.insert(0, str(program_path.parent))
    spec = importlib.util.spec_from_file_location(name, program_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves postponed annotations through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(program_path.parent))
        sys.modules.pop(name, None)
        sys.modules.pop("helpers", None)
