"""The emitted package as production uses it: entry points, castlm-free runs, mypy --strict."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import shutil
import subprocess
import sys
import typing
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from castlm import PredictorParams
from castlm.compiler.emit import EmitError, public_api, render_package
from castlm.compiler.verify import castlm_free_command, verify_package
from support.fake_openai import FakeOpenAI
from test_emit_support import (
    PARAMS,
    emit,
    imported,
    request_for,
    write_sources,
)

PACKAGE = "support_pkg"


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("emit_package")
    program = write_sources(root / "src")
    return emit(request_for(program, PACKAGE), root / "out")


@pytest.fixture(autouse=True)
def choose_the_standin(monkeypatch: pytest.MonkeyPatch) -> None:
    """These packages are compiled with the stand-in, which runs only when chosen explicitly."""
    monkeypatch.setenv("CASTLM_MODEL", "standin")


@pytest.fixture
def package(out_dir: Path) -> Iterator[Any]:
    with imported(out_dir, PACKAGE) as module:
        yield module


# -- entry points, in-process ------------------------------------------------------------
def test_run_is_typed_like_forward(package: Any) -> None:
    run = inspect.signature(package.run)
    assert list(run.parameters) == ["ticket", "customer", "channel", "lang"]
    assert all(p.kind is p.KEYWORD_ONLY for p in run.parameters.values())
    assert run.parameters["lang"].default == "en"
    assert run.parameters["channel"].default is package.Channel.EMAIL
    hints = typing.get_type_hints(package.run)
    assert hints["lang"] == typing.Literal["en", "fr"]
    assert hints["customer"] == typing.Optional[package.Customer]  # noqa: UP045
    assert hints["return"] is package.Reply
    assert inspect.signature(package.arun) == run
    assert inspect.iscoroutinefunction(package.arun)


def test_run_and_arun_use_the_frozen_parameters(package: Any) -> None:
    runtime = package._runtime
    customer = package.Customer(name="Ada", address={"city": "Paris"})
    with runtime.trace() as steps:
        reply = package.run(ticket="Server down, urgent", customer=customer, lang="fr")
    assert isinstance(reply, package.Reply)
    assert isinstance(reply.reply, str) and reply.reply
    assert [s.signature for s in steps] == ["Triage", "Reply"]
    assert PARAMS["triage"].instructions in steps[0].messages[0]["content"]
    assert "The site is down!" in steps[0].messages[1]["content"]  # the frozen demo
    with runtime.trace() as async_steps:
        again = asyncio.run(package.arun(ticket="Server down, urgent", customer=customer))
    assert again.model_dump() == reply.model_dump()
    assert [s.messages for s in async_steps] == [s.messages for s in steps]


def test_stream_and_astream_are_typed_like_run_and_end_with_its_result(package: Any) -> None:
    run = inspect.signature(package.run)
    assert inspect.signature(package.stream).parameters == run.parameters
    assert inspect.signature(package.astream).parameters == run.parameters
    # _ProgramEvent is imported for type checkers only.
    hints = typing.get_type_hints(package.stream, None, {"_ProgramEvent": package.ProgramEvent})
    assert hints["return"] == Iterator[package.ProgramEvent[package.Reply]]
    customer = package.Customer(name="Ada", address={"city": "Paris"})
    reply = package.run(ticket="Server down, urgent", customer=customer)
    events = list(package.stream(ticket="Server down, urgent", customer=customer))

    async def collect() -> list[Any]:
        return [e async for e in package.astream(ticket="Server down, urgent", customer=customer)]

    for streamed in (events, asyncio.run(collect())):
        finished = streamed[-1]
        assert isinstance(finished, package.Finished)
        assert finished.result.model_dump() == reply.model_dump()
        done = [e.predictor for e in streamed if isinstance(e, package.PredictorDone)]
        assert done == ["triage", "draft"]
        deltas = [e for e in streamed if isinstance(e, package.FieldDelta)]
        assert "".join(d.delta for d in deltas if d.field == "reply") == reply.reply


def test_run_and_arun_take_the_same_module_call_path(package: Any) -> None:
    """run() used to call forward directly, so it got no module span and no module guards
    while arun() got both (issue #14): both now go through the module call."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    runtime = package._runtime
    seen: list[str] = []

    class Seen(runtime.Guard):  # type: ignore[misc, name-defined]
        def check_inputs(self, predictor: Any, inputs: dict[str, Any]) -> dict[str, Any]:
            seen.append(predictor.spec.name)
            return inputs

    package._default_program().add_guard(Seen())
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    runtime.configure_tracing(tracer_provider=provider)
    customer = package.Customer(name="Ada", address={"city": "Paris"})
    try:
        package.run(ticket="Server down, urgent", customer=customer)
        ran, ran_spans = list(seen), [s.name for s in memory.get_finished_spans()]
        seen.clear()
        memory.clear()
        asyncio.run(package.arun(ticket="Server down, urgent", customer=customer))
        awaited = [s.name for s in memory.get_finished_spans()]
    finally:
        runtime.configure_tracing()
    assert ran == seen == ["Triage", "Reply"]
    assert ran_spans == awaited
    assert ran_spans[-1] == "castlm.module Support"


def test_load_returns_fresh_programs_with_the_parameters(package: Any) -> None:
    first, second = package.load("standin"), package.load()
    assert first is not second
    assert first.get_params()["triage"].instructions == PARAMS["triage"].instructions
    assert first.get_params()["triage"].demos == PARAMS["triage"].demos
    assert type(first.triage.lm).__name__ == "StandInLM"
    scripted = package._runtime.testing.ScriptedLM(["[[ ## urgency ## ]]\nlow"])
    assert package.load(scripted).triage.lm is scripted


def test_a_standin_package_runs_the_standin_only_when_chosen(
    package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unset CASTLM_MODEL used to fall back to the compiled 'standin': fake answers in production.
    monkeypatch.delenv("CASTLM_MODEL")
    package._default = None
    refused = "compiled with castlm's offline stand-in.*CASTLM_MODEL=standin"
    with pytest.raises(package._runtime.ConfigurationError, match=refused):
        package.load()
    with pytest.raises(package._runtime.ConfigurationError, match=refused):
        package.run(ticket="Server down, urgent")
    assert type(package.load(lm="standin").triage.lm).__name__ == "StandInLM"
    monkeypatch.setenv("CASTLM_MODEL", "standin")
    assert type(package.load().triage.lm).__name__ == "StandInLM"


def test_a_package_compiled_with_a_real_model_defaults_to_it(tmp_path: Path) -> None:
    program = write_sources(tmp_path / "src")
    out = emit(request_for(program, "served_pkg", lm_name="served-model"), tmp_path / "out")
    init = (out / "served_pkg" / "__init__.py").read_text(encoding="utf-8")
    assert "or _COMPILED_LM" in init and "offline stand-in" not in init
    assert "Default: the\n  model the program was compiled with" in (out / "README.md").read_text(
        encoding="utf-8"
    )


def test_load_takes_an_lm_of_another_runtime(package: Any) -> None:
    # castlm's LM classes are not the package's vendored ones, yet they are LMs all the same.
    from castlm.testing import ScriptedLM

    scripted = ScriptedLM(["[[ ## urgency ## ]]\nlow\n\n[[ ## completed ## ]]"] * 2)
    program = package.load(scripted)
    assert program.triage.lm is scripted
    urgency = program.triage(ticket="hi", customer=None)
    assert str(urgency.urgency) == "low" and len(scripted.requests) == 1


def test_context_override_takes_an_lm_of_another_runtime(package: Any) -> None:
    from castlm.testing import ScriptedLM

    scripted = ScriptedLM(["[[ ## urgency ## ]]\nhigh\n\n[[ ## completed ## ]]"])
    program = package.load("standin")
    with package._runtime.context(override_lm=scripted):
        assert str(program.triage(ticket="hi", customer=None).urgency) == "high"
    assert len(scripted.requests) == 1


def test_load_names_what_it_takes_for_anything_else(package: Any) -> None:
    with pytest.raises(package._runtime.ConfigurationError, match=r"lm= takes an LM object"):
        package.load(42)


def test_the_default_program_is_created_once_across_threads(package: Any) -> None:
    package._default = None
    with ThreadPoolExecutor(max_workers=8) as pool:
        programs = list(pool.map(lambda _: package._default_program(), range(32)))
    assert len({id(p) for p in programs}) == 1
    assert package._default_program() is programs[0]


# castlm's names for the runtime parts this program does not use (the stand-in package
# vendors neither litellm nor fallback LMs, and the program has no History or Image field).
UNUSED_PARTS = {"FallbackLM", "History", "Image", "LiteLLMLM"}


def test_exports(package: Any) -> None:
    own = {"LM", "Channel", "Customer", "Reply", "Support", "Triage", "arun", "load", "run"}
    own |= {"stream", "astream"}
    castlm_names = {*public_api.EAGER, *public_api.LAZY} - UNUSED_PARTS
    assert set(package.__all__) == own | castlm_names
    assert package.Support.__module__ == f"{PACKAGE}.program"


def test_castlm_public_names_come_from_the_package_itself(package: Any) -> None:
    runtime = sys.modules[f"{PACKAGE}._runtime"]
    for name in {*public_api.EAGER, *public_api.LAZY} - UNUSED_PARTS:
        assert getattr(package, name) is getattr(runtime, name), name
    for name in UNUSED_PARTS:
        assert not hasattr(package, name), name
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = package.Nope


def test_the_lazy_public_names_load_on_first_use(out_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "lazy.py"
    script.write_text(
        f"import sys\nimport {PACKAGE}\n"
        f"assert '{PACKAGE}._runtime.core._batch' not in sys.modules\n"
        f"from {PACKAGE} import Ok, track_usage\n"
        f"assert Ok.__module__ == '{PACKAGE}._runtime.core._batch'\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        castlm_free_command(out_dir, script), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_program_name_wins_over_a_castlm_public_name(tmp_path: Path) -> None:
    source = tmp_path / "src" / "prog.py"
    source.parent.mkdir()
    source.write_text(DONE_PROGRAM, encoding="utf-8")
    files = render_package(
        request_for(source, "done_pkg", params={"check": PARAMS["triage"]}, module_class="Finisher")
    )
    init = files["done_pkg/__init__.py"].decode()
    assert "from .program import Done, Finisher" in init
    assert "        Done," not in init  # not imported from _runtime as well
    assert '"Done"' not in init.split("_LAZY_PUBLIC")[1]


DONE_PROGRAM = """\
import castlm as cl


class Done(cl.Signature):
    task: str = cl.InputField()
    done: bool = cl.OutputField()


class Finisher(cl.Module):
    def __init__(self) -> None:
        self.check = cl.Predict(Done)

    def forward(self, task: str) -> Done:
        return self.check(task=task)
"""


ODD_PROGRAM = """\
import castlm as cl


class Echo(cl.Signature):
    text: str = cl.InputField()
    echo: str = cl.OutputField()


class Passthrough(cl.Module):
    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    def forward(
        self, a: int, b: str = "x", *rest: int, k: bool = False, **extra: str
    ) -> dict[str, object]:
        return {"a": a, "b": b, "rest": rest, "k": k, "extra": extra}


class Untyped(cl.Module):
    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    def forward(self, value, scale=2):
        return value * scale


class Awaiting(cl.Module):
    def __init__(self) -> None:
        self.echo = cl.Predict(Echo)

    async def forward(self, n: int) -> int:
        return n + 1
"""


@pytest.mark.parametrize(
    ("module_class", "call", "expected"),
    [
        (
            "Passthrough",
            lambda run: run(5, 6, a=1, k=True, z="q"),
            {"a": 1, "b": "x", "rest": (5, 6), "k": True, "extra": {"z": "q"}},
        ),
        ("Untyped", lambda run: run(value=3), 6),
        ("Awaiting", lambda run: run(n=1), 2),
    ],
)
def test_entry_points_pass_every_kind_of_parameter(
    tmp_path: Path, module_class: str, call: Any, expected: Any
) -> None:
    program = tmp_path / "odd.py"
    program.write_text(ODD_PROGRAM, encoding="utf-8")
    params = {"echo": PredictorParams("Echo it.")}
    request = request_for(program, "odd_pkg", params=params, module_class=module_class)
    with imported(emit(request, tmp_path / "out"), "odd_pkg") as package:
        assert call(package.run) == expected
        assert asyncio.run(_call_async(package.arun, call)) == expected
        # stream passes the arguments the same way; an async forward's result is awaited.
        finished = list(call(package.stream))[-1]
        assert isinstance(finished, package.Finished) and finished.result == expected
    init = (tmp_path / "out" / "odd_pkg" / "__init__.py").read_text(encoding="utf-8")
    if module_class == "Untyped":
        assert "from typing import Any" in init


async def _call_async(arun: Any, call: Any) -> Any:
    return await call(arun)


def test_a_forward_using_a_reserved_name_is_refused(tmp_path: Path) -> None:
    program = tmp_path / "clash.py"
    program.write_text(
        ODD_PROGRAM + "\n\nclass run:\n    pass\n\n\n"
        "class Clash(cl.Module):\n"
        "    def __init__(self) -> None:\n        self.echo = cl.Predict(Echo)\n\n"
        "    def forward(self, x: run) -> int:\n        return 1\n",
        encoding="utf-8",
    )
    request = request_for(program, "clash_pkg", params={}, module_class="Clash")
    with pytest.raises(EmitError, match="'run'"):
        render_package(request)


def test_the_package_builds_as_a_wheel(out_dir: Path, tmp_path: Path) -> None:
    project = Path(shutil.copytree(out_dir, tmp_path / "project"))
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "-w", str(tmp_path / "wheels"), str(project)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = (tmp_path / "wheels").glob("support_pkg-0.1.0-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("__init__.py", "py.typed", "manifest.json", "_runtime/py.typed", "helpers.py"):
        assert f"{PACKAGE}/{name}" in names


# -- castlm-free, over HTTP --------------------------------------------------------------
def _chat_reply(body: dict[str, Any]) -> str:
    """A ChatAdapter reply with a value for every output the system prompt asks for."""
    system = body["messages"][0]["content"]
    outputs = re.findall(r"\[\[ ## (\w+) ## \]\]\n<\1>", system)
    values = {"urgency": "high", "reasoning": "It is on fire.", "reply": "On our way!"}
    sections = [f"[[ ## {name} ## ]]\n{values.get(name, 'ok')}" for name in outputs]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


RUN_SCRIPT = """\
import asyncio, json, sys
import support_pkg

reply = support_pkg.run(ticket="Printer on fire", lang="fr")
again = asyncio.run(support_pkg.arun(ticket="Printer on fire"))
print(json.dumps([reply.model_dump(mode="json"), again.model_dump(mode="json")]))
"""


def test_runs_against_an_openai_compatible_server_without_castlm(
    out_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "use_it.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")
    with FakeOpenAI(reply=_chat_reply) as server:
        env = {
            "CASTLM_MODEL": "served-model",
            "CASTLM_BASE_URL": server.base_url,
            "CASTLM_API_KEY": "sk-test-key",
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            castlm_free_command(out_dir, script),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        requests = server.chat_requests
    assert done.returncode == 0, done.stderr
    reply, again = json.loads(done.stdout)
    assert reply["reply"] == again["reply"] == "On our way!"
    assert reply["reasoning"] == "It is on fire."
    assert len(requests) == 4  # two predictors, two runs
    assert {r.body["model"] for r in requests} == {"served-model"}
    assert {r.headers["authorization"] for r in requests} == {"Bearer sk-test-key"}
    system = requests[0].body["messages"][0]["content"]
    assert system.endswith(PARAMS["triage"].instructions)


def test_one_predictor_can_use_another_model_through_the_environment(
    out_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "use_it.py"
    script.write_text(RUN_SCRIPT, encoding="utf-8")
    with FakeOpenAI(reply=_chat_reply) as server:
        env = {
            "CASTLM_MODEL": "standin",  # every predictor, offline...
            "CASTLM_MODEL__DRAFT": "strong-model",  # ...but the draft goes to the server
            "CASTLM_BASE_URL": server.base_url,
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            castlm_free_command(out_dir, script),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        requests = server.chat_requests
    assert done.returncode == 0, done.stderr
    assert len(requests) == 2  # only the draft predictor's calls, one per run
    assert {r.body["model"] for r in requests} == {"strong-model"}
    assert all("Be brief and kind" in r.body["messages"][0]["content"] for r in requests)


STREAM_SCRIPT = """\
import json
import support_pkg

program = support_pkg.load()
events = list(program.draft.stream(ticket="Printer on fire", urgency="high"))
partials = [e.text.get("reply", "") for e in events[:-1] if e.field == "reply"]
final = events[-1].result
print(json.dumps({"kinds": [type(e).__name__ for e in events], "partials": partials,
                  "reasoning": final.reasoning, "reply": final.reply}))
"""


def test_a_predictor_of_the_package_streams_over_sse_without_castlm(
    out_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "stream_it.py"
    script.write_text(STREAM_SCRIPT, encoding="utf-8")
    with FakeOpenAI(reply=_chat_reply) as server:
        env = {"CASTLM_MODEL": "served-model", "CASTLM_BASE_URL": server.base_url}
        done = subprocess.run(
            castlm_free_command(out_dir, script),
            env={**env, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        requests = server.chat_requests
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert requests[0].body.get("stream") is True
    assert seen["kinds"][-1] == "Done" and "Partial" in seen["kinds"]
    assert seen["partials"] and "On our way!".startswith(seen["partials"][0])
    assert (seen["reasoning"], seen["reply"]) == ("It is on fire.", "On our way!")


def test_the_blocker_really_hides_castlm(out_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "sneaky.py"
    script.write_text("import castlm\n", encoding="utf-8")
    done = subprocess.run(
        castlm_free_command(out_dir, script), capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "castlm is not importable here" in done.stderr


# -- nasty frozen values under mypy ------------------------------------------------------
NASTY = [
    "quotes ' \" ''' \"\"\" \\' \\\" and a trailing backslash \\",
    "templates {{ x }} {% if %} {# c #} ${x} %(x)s {0}",
    "NUL \x00, BEL \x07, ESC \x1b, DEL \x7f, lone surrogates \ud800 \udfff",
    "line\nbreaks\r\nof\rall\u2028kinds\u2029\x85\x0b\x0c",
    "unicode: é ü 漢字 🙂 \u200b\u202e\ufeff",
    '"""\nclose the docstring""" + __import__("os").system("echo pwned") + """',
]


def test_a_package_with_nasty_frozen_values_type_checks_and_imports(
    tmp_path: Path,
) -> None:
    program = write_sources(tmp_path / "src")
    demo = {"ticket": NASTY[5], "customer": None, "urgency": "low", NASTY[1]: NASTY}
    params = {
        "triage": PredictorParams("\n".join(NASTY), (demo,)),
        "draft": PredictorParams(NASTY[2], ({"ticket": NASTY[3], "reply": NASTY[0]},)),
    }
    out = emit(request_for(program, "nasty_pkg", params=params), tmp_path / "out")
    report = verify_package(
        out, "nasty_pkg", dev_inputs=[], expected=None, lm_name="standin", cache_dir=None
    )
    assert report.mypy_errors == ()
    assert report.import_error is None
    with imported(out, "nasty_pkg") as package:
        frozen = package._frozen.PARAMS
    assert frozen["triage"].instructions == "\n".join(NASTY)
    assert frozen["triage"].demos == (demo,)
    assert frozen["draft"].demos == params["draft"].demos
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "\x00" not in readme and "\\x00" in readme
