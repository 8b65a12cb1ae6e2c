"""Checks an emitted package the way production will use it, before the compile reports success.

Three checks, in two subprocesses that run side by side:

* ``mypy --strict`` on the package, with a cache of its own;
* importing it in a fresh interpreter where castlm is *not importable* (a meta-path finder
  refuses ``castlm`` and ``castlm.*``), so a leftover ``import castlm`` fails here and not in
  production;
* parity: in that same interpreter, every dev input goes through the package's ``run()``
  inside its vendored ``trace()``. The prompts each predictor sent and the prediction must
  equal what the caller recorded in-process at compile time (:func:`record_expected`). With
  ``CASTLM_CACHE_DIR`` pointing at the compile's cache, every call is a cache hit.

This file must import nothing but the standard library at module level: the second
subprocess runs it as a script (``__main__``) where castlm is blocked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MismatchKind = Literal["prediction", "prompt", "calls", "error"]

# Run with ``python -I -B -c _BOOTSTRAP <out_dir> <script> <args...>``: installs the blocker,
# puts the output directory first on sys.path, then runs the script as __main__.
_BOOTSTRAP = """
import runpy
import sys


class _NoCastlm:
    # Raising (not returning None) stops the search: an installed castlm must stay unseen.
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "castlm" or name.startswith("castlm."):
            raise ImportError(
                f"castlm is not importable here, as in production, but {name!r} was imported"
            )
        return None


if any(n == "castlm" or n.startswith("castlm.") for n in sys.modules):
    raise SystemExit("castlm was imported before the blocker was installed")
sys.meta_path.insert(0, _NoCastlm())
out_dir, script = sys.argv[1], sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
sys.path.insert(0, out_dir)
runpy.run_path(script, run_name="__main__")
"""
_EXCERPT = 60


# -- what callers pass and get -----------------------------------------------------------
@dataclass(frozen=True)
class PromptRecord:
    """One predictor call: its dotted name (a label for reports) and the exact messages."""

    predictor: str
    messages: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class ExpectedCall:
    """What one dev input produced in-process at compile time.

    ``prediction`` is JSON data (see :func:`to_json_data`); ``error`` says what the program
    raised, if it raised: the exception type's name, or ``"TypeName: message"``.
    """

    prediction: Any
    prompts: tuple[PromptRecord, ...]
    error: str | None = None


@dataclass(frozen=True)
class Mismatch:
    """One difference between the package and the in-process program."""

    example: int
    kind: MismatchKind
    predictor: str | None
    detail: str

    def __str__(self) -> str:
        where = f" ({self.predictor})" if self.predictor else ""
        return f"dev example {self.example}{where}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_package`; ``predictions`` are JSON data, one per dev
    input (None where the package raised), for re-scoring with the metric."""

    ok: bool
    mypy_errors: tuple[str, ...]
    import_error: str | None
    mismatches: tuple[Mismatch, ...]
    predictions: tuple[Any, ...]
    timings: Mapping[str, float] = field(default_factory=dict)
    # LM use during the replay: {"calls": real calls, "cache_hits": answered from the cache}.
    lm_stats: Mapping[str, int] = field(default_factory=dict)
    # pyright strict on the whole package (verify_pyright); None when it did not run.
    pyright_errors: tuple[str, ...] | None = None


# -- the parent side ---------------------------------------------------------------------
def verify_package(
    out_dir: Path,
    package: str,
    *,
    dev_inputs: list[dict[str, Any]],
    expected: list[ExpectedCall] | None,
    lm_name: str,
    cache_dir: Path | None,
    env: Mapping[str, str] | None = None,
    mypy_cache_dir: Path | None = None,
    timeout_s: float = 900.0,
) -> VerifyReport:
    """Type-check, import and replay the package in ``out_dir``; see the module docstring.

    ``cache_dir`` is the directory holding the compile's ``cache.sqlite`` (``.castlm`` in the
    project). ``env`` adds to the environment of the replay (e.g. ``CASTLM_BASE_URL``).
    ``mypy_cache_dir`` reuses a mypy cache (tests). mypy trusts a cached file whose path,
    size and mtime match, so only share one between different output directories; by
    default each run gets a fresh cache.
    """
    if expected is not None and len(expected) != len(dev_inputs):
        raise ValueError(f"{len(expected)} expected calls for {len(dev_inputs)} dev inputs")
    started = time.perf_counter()
    out_dir = Path(out_dir).absolute()
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="castlm-verify-") as scratch:
        work = Path(scratch)
        from castlm.compiler.verify_pyright import start_pyright  # parent side only

        mypy = _start_mypy(out_dir, package, mypy_cache_dir or work / "mypy-cache")
        pyright = start_pyright(out_dir, package, work)
        try:
            probe = _start_probe(out_dir, package, dev_inputs, lm_name, cache_dir, env, work)
            try:
                mypy_errors, mypy_s = _finish_mypy(mypy, deadline)
                result = _finish_probe(probe, work / "result.json", deadline)
                pyright_errors = _finish_pyright(pyright, out_dir, deadline)
            finally:
                _stop(probe)
        finally:
            _stop(mypy)
            if pyright is not None:
                _stop(pyright)
    import_error = result.get("import_error")
    runs: list[dict[str, Any]] = result.get("runs", [])
    mismatches = _compare(expected, runs) if import_error is None else []
    timings = {
        "mypy_s": mypy_s,
        "import_s": float(result.get("import_s", 0.0)),
        "parity_s": float(result.get("parity_s", 0.0)),
        "total_s": time.perf_counter() - started,
    }
    return VerifyReport(
        ok=not mypy_errors and not pyright_errors and import_error is None and not mismatches,
        mypy_errors=tuple(mypy_errors),
        pyright_errors=None if pyright_errors is None else tuple(pyright_errors),
        import_error=import_error,
        mismatches=tuple(mismatches),
        predictions=tuple(run.get("prediction") for run in runs),
        timings=timings,
        lm_stats=result.get("lm_stats", {}),
    )


def castlm_free_command(out_dir: Path, script: Path, *args: str) -> list[str]:
    """A command running ``script`` with ``out_dir`` first on sys.path and castlm blocked."""
    return [sys.executable, "-I", "-B", "-c", _BOOTSTRAP, str(out_dir), str(script), *args]


def record_expected(program: Any, inputs: Mapping[str, Any]) -> ExpectedCall:
    """Run ``program`` (a castlm Module) on one dev input in-process, recording what the
    package must reproduce. Errors are recorded, not raised."""
    import castlm  # here, not at module level: this file also runs where castlm is blocked

    names = {id(p): n for n, p in program.named_predictors()}
    with castlm.trace() as steps:
        try:
            prediction, error = to_json_data(program(**inputs)), None
        except Exception as exc:
            prediction, error = None, type(exc).__name__
    return ExpectedCall(prediction, _prompt_records(steps, names), error)


def to_json_data(value: Any) -> Any:
    """A prediction as plain JSON data: pydantic models dumped in JSON mode."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


def _prompt_records(steps: Sequence[Any], names: Mapping[int, str]) -> tuple[PromptRecord, ...]:
    return tuple(
        PromptRecord(
            predictor=names.get(id(step.predictor), step.signature),
            messages=tuple(dict(m) for m in step.messages),
        )
        for step in steps
    )


# -- mypy --------------------------------------------------------------------------------
def _start_mypy(out_dir: Path, package: str, cache: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "mypy", "--strict", "--config-file=", "--cache-dir", str(cache),
        "--no-color-output", "--no-error-summary", "--show-error-codes", str(out_dir / package),
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=out_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish_mypy(process: subprocess.Popen[str], deadline: float) -> tuple[list[str], float]:
    started = time.perf_counter()
    output, timed_out = _communicate(process, deadline)
    elapsed = time.perf_counter() - started
    if timed_out:
        return ["mypy did not finish before the verify timeout"], elapsed
    if process.returncode == 0:
        return [], elapsed
    errors = [line for line in output.splitlines() if ": error:" in line]
    # Exit status 2 (or a crash) means mypy could not check at all: report what it said.
    return errors or [f"mypy failed (exit {process.returncode}): {output.strip()}"], elapsed


def _finish_pyright(
    process: subprocess.Popen[str] | None, out_dir: Path, deadline: float
) -> list[str] | None:
    if process is None:
        return None
    from castlm.compiler.verify_pyright import pyright_errors

    output, timed_out = _communicate(process, deadline)
    if timed_out:
        return ["pyright did not finish before the verify timeout"]
    return pyright_errors(output, process.returncode, out_dir)


# -- the castlm-free replay --------------------------------------------------------------
def _start_probe(
    out_dir: Path,
    package: str,
    dev_inputs: list[dict[str, Any]],
    lm_name: str,
    cache_dir: Path | None,
    env: Mapping[str, str] | None,
    work: Path,
) -> subprocess.Popen[str]:
    request = {"package": package, "lm_name": lm_name, "inputs": dev_inputs}
    request_path = work / "request.json"
    request_path.write_text(json.dumps(request, default=_json_default), encoding="utf-8")
    environment = {**os.environ, **(env or {}), "CASTLM_MODEL": lm_name}
    if cache_dir is not None:
        environment["CASTLM_CACHE_DIR"] = str(Path(cache_dir).absolute())
    command = castlm_free_command(
        out_dir, Path(__file__), str(request_path), str(work / "result.json")
    )
    return subprocess.Popen(
        command,
        cwd=out_dir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish_probe(
    process: subprocess.Popen[str], result_path: Path, deadline: float
) -> dict[str, Any]:
    output, timed_out = _communicate(process, deadline)
    if timed_out:
        return {"import_error": "the replay did not finish before the verify timeout"}
    try:
        result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {
            "import_error": f"the replay process died (exit {process.returncode}):\n"
            f"{output.strip()[-4000:]}"
        }
    return result


def _communicate(process: subprocess.Popen[str], deadline: float) -> tuple[str, bool]:
    """The process's output once it exits, and whether it had to be killed at the deadline."""
    try:
        output, _ = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return output or "", True
    return output or "", False


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill a check that is still running (the caller failed or was interrupted)."""
    if process.poll() is None:
        process.kill()
        process.communicate()


# -- comparing ---------------------------------------------------------------------------
def _compare(expected: list[ExpectedCall] | None, runs: list[dict[str, Any]]) -> list[Mismatch]:
    mismatches: list[Mismatch] = []
    for index, run in enumerate(runs):
        want = expected[index] if expected is not None else None
        mismatches.extend(_compare_one(index, want, run))
    return mismatches


def _compare_one(index: int, want: ExpectedCall | None, run: dict[str, Any]) -> list[Mismatch]:
    found = _compare_call(index, want, run)
    if "async" in run:  # arun must send the same prompts and return the same result
        said = {(m.kind, m.predictor) for m in found}
        for mismatch in _compare_call(index, want, run["async"]):
            if (mismatch.kind, mismatch.predictor) not in said:  # once when both stray alike
                found.append(dataclasses.replace(mismatch, detail=f"arun: {mismatch.detail}"))
    return found


def _compare_call(index: int, want: ExpectedCall | None, run: dict[str, Any]) -> list[Mismatch]:
    error = run.get("error")
    found: list[Mismatch] = []
    wanted_error = want.error if want is not None else None
    if not _same_error(wanted_error, error["type"] if error else None):
        said = f"raised {error['type']}: {error['message']}" if error else "raised nothing"
        found.append(
            Mismatch(index, "error", None, f"the package {said}; in-process: {wanted_error}")
        )
    if want is None:
        return found
    prompts = [PromptRecord(p["predictor"], tuple(p["messages"])) for p in run.get("prompts", [])]
    prompt_mismatch = _compare_prompts(index, want.prompts, tuple(prompts))
    if prompt_mismatch is not None:
        found.append(prompt_mismatch)
    if not error and not wanted_error and run.get("prediction") != want.prediction:
        detail = (
            f"prediction {_short(run.get('prediction'))} differs from the in-process "
            f"{_short(want.prediction)}"
        )
        found.append(Mismatch(index, "prediction", None, detail))
    return found


def _same_error(wanted: str | None, raised: str | None) -> bool:
    """Whether the package raised like the program did: same exception type, or neither."""
    if wanted is None or raised is None:
        return wanted is raised
    return wanted.split(":", 1)[0].strip() == raised


def _compare_prompts(
    index: int, want: tuple[PromptRecord, ...], got: tuple[PromptRecord, ...]
) -> Mismatch | None:
    """The first call whose prompt differs; later calls differ as a consequence.

    Only the messages are compared: the predictor names label the report (callers may
    record signature names where the replay has dotted predictor names).
    """
    for number, (expected, actual) in enumerate(zip(want, got, strict=False)):
        difference = _message_difference(expected.messages, actual.messages)
        if difference is not None:
            return Mismatch(index, "prompt", actual.predictor, f"call {number}: {difference}")
    if len(want) != len(got):
        detail = f"the package made {len(got)} predictor calls, in-process {len(want)}"
        return Mismatch(index, "calls", None, detail)
    return None


def _message_difference(
    want: Sequence[Mapping[str, str]], got: Sequence[Mapping[str, str]]
) -> str | None:
    for number, (expected, actual) in enumerate(zip(want, got, strict=False)):
        if dict(expected) == dict(actual):
            continue
        role = expected.get("role", "?")
        if expected.get("role") != actual.get("role"):
            return f"message {number} has role {actual.get('role')!r}, in-process {role!r}"
        text = _text_difference(_content(expected), _content(actual))
        return f"message {number} ({role}) {text}"
    if len(want) != len(got):
        return f"{len(got)} messages sent, in-process {len(want)}"
    return None


def _content(message: Mapping[str, object]) -> str:
    """A message's content as text to compare; image parts by their type, size and hash
    (never their base64: this text ends up in an error message)."""
    content = message.get("content", "")
    if isinstance(content, str) or not isinstance(content, Sequence):
        return str(content)
    parts = [_redacted(p) for p in content if isinstance(p, Mapping)]
    return json.dumps(parts, ensure_ascii=False)


def _redacted(part: Mapping[str, Any]) -> Mapping[str, Any]:
    # Not castlm.base._image.redacted_part: this module also runs without castlm.
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        return part
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return {"type": "image_url", "image_url": {"url": f"<{url[:22]}... sha256={digest}>"}}


def _text_difference(want: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b), None)
    at = min(len(want), len(got)) if at is None else at
    start = max(0, at - _EXCERPT // 2)
    return (
        f"differs at character {at}: the package sent {got[start : at + _EXCERPT]!r}, "
        f"in-process {want[start : at + _EXCERPT]!r}"
    )


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


# -- the child side (runs with castlm blocked) -------------------------------------------
def _probe(request: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        package = importlib.import_module(request["package"])
        runtime = importlib.import_module(f"{request['package']}._runtime")
        package.load(request["lm_name"])  # the documented way in, with an LM name
        program = package._default_program()  # the one run() uses: names its predictors
    except BaseException:
        return {"import_error": traceback.format_exc()}
    imported = time.perf_counter()
    names = {id(p): n for n, p in program.named_predictors()}
    runs = [_probe_one(package, runtime, inputs, names) for inputs in request["inputs"]]
    lms = {id(p.lm): p.lm for _, p in program.named_predictors() if p.lm is not None}
    return {
        "import_error": None,
        "runs": runs,
        "lm_stats": {
            "calls": sum(lm.stats.calls for lm in lms.values()),
            "cache_hits": sum(lm.stats.cache_hits for lm in lms.values()),
        },
        "import_s": imported - started,
        "parity_s": time.perf_counter() - imported,
    }


def _probe_one(
    package: Any, runtime: Any, inputs: Mapping[str, Any], names: Mapping[int, str]
) -> dict[str, Any]:
    """One dev example through ``run``, and through ``arun`` (the async twin of forward)."""
    sync = _probe_call(runtime, names, lambda: package.run(**inputs))
    sync["async"] = _probe_call(runtime, names, lambda: asyncio.run(package.arun(**inputs)))
    return sync


def _probe_call(runtime: Any, names: Mapping[int, str], call: Callable[[], Any]) -> dict[str, Any]:
    prediction: Any = None
    error: dict[str, str] | None = None
    with runtime.trace() as steps:
        try:
            prediction = to_json_data(call())
        except Exception as exc:
            error = {"type": type(exc).__name__, "message": str(exc)}
    prompts = [
        {"predictor": record.predictor, "messages": [dict(m) for m in record.messages]}
        for record in _prompt_records(steps, names)
    ]
    return {"prediction": prediction, "prompts": prompts, "error": error}


def _probe_main(argv: Sequence[str]) -> None:
    request_path, result_path = map(Path, argv)
    request = json.loads(request_path.read_text(encoding="utf-8"))
    result = _probe(request)
    # ASCII JSON: prompts may hold lone surrogates, which UTF-8 cannot encode.
    result_path.write_text(json.dumps(result, default=_json_default), encoding="ascii")


if __name__ == "__main__":
    _probe_main(sys.argv[1:])
