"""Compile settings from the command line, ``castlm.toml`` or ``[tool.castlm]``.

Every setting can come from a file, so a build system runs ``castlm compile DIR`` with no
flags. Paths in a file are relative to that file's folder. A file may configure several
programs with ``[[programs]]`` tables; keys at the top level are defaults for all of them.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import CompileError
from .mlflow_settings import MlflowSettings, mlflow_settings

CONFIG_FILES = ("castlm.toml", "pyproject.toml")
_MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class Target:
    """``path.py:Name``: a class or function in a source file."""

    path: Path
    name: str

    @classmethod
    def parse(cls, text: str, base: Path, what: str, origin: str) -> Target:
        path_text, sep, name = text.rpartition(":")
        if not sep or not path_text or not name.isidentifier():
            raise CompileError(f"{what} must look like 'file.py:Name', got {text!r}", path=origin)
        return cls((base / path_text).resolve(), name)

    def __str__(self) -> str:
        return f"{self.path}:{self.name}"


@dataclass(frozen=True)
class ProgramConfig:
    """Everything one compile needs; see docs/configuration.md for each key."""

    program: Target
    metric: Target | str
    train: Path
    lm: str
    out: Path
    package: str
    project_dir: Path
    dev: Path | None = None
    dev_fraction: float = 0.2
    #: Validation data the optimizers choose with, kept apart from train and dev: a file, or
    #: a share split off the training data. Neither: the optimizers validate on train.
    val: Path | None = None
    val_fraction: float | None = None
    seed: int = 0
    optimizer: str = "bootstrap"
    optimizer_options: Mapping[str, Any] = field(default_factory=dict)
    teacher_lm: str | None = None
    prompt_lm: str | None = None
    base_url: str | None = None
    threads: int = 8
    cache: bool = True
    verify: bool = True
    config_file: Path | None = None
    max_lm_calls: int | None = None
    max_cost: float | None = None
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: LM settings per role (temperature, max_tokens, structured_output...; see
    #: castlm.lm._lm_settings). The teacher and prompt LMs start from the task LM's.
    lm_settings: Mapping[str, Any] = field(default_factory=dict)
    teacher_lm_settings: Mapping[str, Any] = field(default_factory=dict)
    prompt_lm_settings: Mapping[str, Any] = field(default_factory=dict)

    def settings_for(self, role: str) -> dict[str, Any]:
        """The settings of the ``task``, ``teacher`` or ``prompt`` LM."""
        own = {"task": {}, "teacher": self.teacher_lm_settings, "prompt": self.prompt_lm_settings}
        return {**self.lm_settings, **own[role]}

    #: Fail the build unless the compiled program scores above its zero-shot baseline.
    require_improvement: bool = False
    #: Fail the build when the compiled program's dev score (0-100) is below this.
    min_score: float | None = None
    #: Settings given on the command line, which win over the config file's (error locations).
    flags: frozenset[str] = frozenset()
    #: An LM per predictor, by dotted predictor name (``"stage.route" = "openai/small"``):
    #: used while optimizing and frozen as that predictor's model in the package.
    predictor_lms: Mapping[str, str] = field(default_factory=dict)
    #: A teacher that bootstrapping runs instead of the student: a program (``file.py:Class``)
    #: or the folder of an already emitted package.
    teacher: Target | Path | None = None
    #: Log the compile as an MLflow run (compiler/mlflow_settings.py); None: no logging.
    mlflow: MlflowSettings | None = None
    #: Runtime parts the package vendors even if the program does not use them (``[runtime]
    #: include``: compiler/emit/runtime_features.py), for an LM chosen where it runs.
    runtime_include: tuple[str, ...] = ()


_KEYS: dict[str, type | tuple[type, ...]] = {
    "program": str,
    "metric": str,
    "train": str,
    "dev": str,
    "dev_fraction": (float, int),
    "val": str,
    "val_fraction": (float, int),
    "seed": int,
    "optimizer": str,
    "optimizer_options": dict,
    "lm": str,
    "teacher_lm": str,
    "prompt_lm": str,
    "base_url": str,
    "out": str,
    "package": str,
    "threads": int,
    "cache": bool,
    "verify": bool,
    "max_lm_calls": int,
    "max_cost": (float, int),
    "prices": dict,
    "lm_settings": dict,
    "teacher_lm_settings": dict,
    "prompt_lm_settings": dict,
    "require_improvement": bool,
    "min_score": (float, int),
    "predictor_lms": dict,
    "teacher": str,
    "mlflow": (bool, dict),
    "runtime": dict,
}
LM_SETTINGS_KEYS = ("lm_settings", "teacher_lm_settings", "prompt_lm_settings")
_REQUIRED = ("program", "metric", "train", "lm")


def find_config(directory: Path) -> Path | None:
    """The config file of a folder: castlm.toml, else a pyproject.toml with [tool.castlm]."""
    for name in CONFIG_FILES:
        candidate = directory / name
        if candidate.is_file() and (name == "castlm.toml" or _has_tool_section(candidate)):
            return candidate
    return None


def _has_tool_section(path: Path) -> bool:
    return "castlm" in _tool(_read_toml(path))


def _tool(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """pyproject.toml's ``[tool]`` table; anything else under that key holds no settings."""
    tool = data.get("tool")
    return tool if isinstance(tool, dict) else {}


def load_config_file(path: Path, overrides: Mapping[str, Any] | None = None) -> list[ProgramConfig]:
    """Every program configured in ``path`` (castlm.toml or pyproject.toml)."""
    data = _read_toml(path)
    table = _tool(data).get("castlm") if path.name == "pyproject.toml" else data
    if not isinstance(table, dict):
        raise CompileError("no [tool.castlm] table", path=path)
    programs = table.get("programs", [None])
    defaults = {k: v for k, v in table.items() if k != "programs"}
    if not isinstance(programs, list) or not programs:
        raise CompileError(
            "'programs' must be a non-empty array of tables ([[programs]])", path=path
        )
    _check_keys(defaults, str(path))  # before merging, which reads the tables' values
    configs = []
    for entry in programs:
        if entry is not None and not isinstance(entry, dict):
            raise CompileError(f"each [[programs]] entry must be a table, got {entry!r}", path=path)
        _check_keys(entry or {}, str(path))
        merged = _override({**defaults, **(entry or {})}, overrides or {})
        config = build_config(merged, base=path.parent, origin=str(path))
        configs.append(replace(config, flags=frozenset(overrides or {})))
    return configs


def _override(from_file: Mapping[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """Flags win over the file. Optimizer options in a file that names its optimizer belong to
    that optimizer: ``--optimizer other`` drops them, while ``--option`` adds to them. LM
    settings given as flags add to (and win over) the file's, key by key; so does the
    ``--mlflow`` flag's tracking URI to the file's ``mlflow`` table."""
    merged = {**from_file, **flags}
    for key in LM_SETTINGS_KEYS:
        if key in flags:
            merged[key] = {**dict(from_file.get(key) or {}), **dict(flags[key])}
    if "mlflow" in flags:
        merged["mlflow"] = _mlflow_override(from_file.get("mlflow"), flags["mlflow"])
    file_options = dict(from_file.get("optimizer_options") or {})
    flag_options = dict(flags.get("optimizer_options") or {})
    named = from_file.get("optimizer")
    if named is not None and flags.get("optimizer", named) != named:
        merged["optimizer_options"] = flag_options
    else:
        merged["optimizer_options"] = {**file_options, **flag_options}
    return merged


def _mlflow_override(from_file: Any, flag: Any) -> Any:
    table = from_file if isinstance(from_file, dict) else {}
    return {**table, **flag} if isinstance(flag, dict) else (table or flag)


def build_config(raw: Mapping[str, Any], *, base: Path, origin: str) -> ProgramConfig:
    """Validate raw settings (from a file or flags) into a ProgramConfig."""
    _check_keys(raw, origin)
    missing = [k for k in _REQUIRED if not raw.get(k)]
    if missing:
        raise CompileError(
            f"missing setting{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"set {'them' if len(missing) > 1 else 'it'} in castlm.toml or pass "
            + " ".join(f"--{m.replace('_', '-')}" for m in missing),
            path=origin,
        )
    program = Target.parse(raw["program"], base, "program", origin)
    metric_text: str = raw["metric"]
    metric: Target | str = (
        Target.parse(metric_text, base, "metric", origin) if ":" in metric_text else metric_text
    )
    package = raw.get("package") or _snake(program.name)
    if not package.isidentifier():
        raise CompileError(f"package name {package!r} is not a Python identifier", path=origin)
    config = ProgramConfig(
        program=program,
        metric=metric,
        train=(base / raw["train"]).resolve(),
        lm=raw["lm"],
        out=(base / raw.get("out", f"build/{package}")).resolve(),
        package=package,
        project_dir=base.resolve(),
        config_file=Path(origin) if origin.endswith(".toml") else None,
    )
    return replace(config, **_optional(raw, base, origin))


def _optional(raw: Mapping[str, Any], base: Path, origin: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in (
        "seed",
        "optimizer",
        "teacher_lm",
        "prompt_lm",
        "base_url",
        "threads",
        "cache",
        "verify",
        "require_improvement",
    ):
        if raw.get(key) is not None:
            values[key] = raw[key]
    if raw.get("dev"):
        values["dev"] = (base / raw["dev"]).resolve()
    if raw.get("dev_fraction") is not None:
        fraction = float(raw["dev_fraction"])
        if not 0.0 < fraction < 1.0:
            raise CompileError(f"dev_fraction must be between 0 and 1, got {fraction}", path=origin)
        values["dev_fraction"] = fraction
    values.update(_validation(raw, base, origin))
    if raw.get("optimizer_options"):
        values["optimizer_options"] = dict(raw["optimizer_options"])
    if values.get("threads", 1) < 1:
        raise CompileError("threads must be at least 1", path=origin)
    values.update(_budget(raw, origin))
    for key in LM_SETTINGS_KEYS:
        if raw.get(key):
            values[key] = _lm_settings(raw[key], key, origin)
    if raw.get("min_score") is not None:
        values["min_score"] = _min_score(raw["min_score"], origin)
    if raw.get("teacher"):
        values["teacher"] = _teacher(raw["teacher"], base, origin)
    if raw.get("predictor_lms"):
        values["predictor_lms"] = _predictor_lms(raw["predictor_lms"], origin)
    if raw.get("mlflow") is not None:
        values["mlflow"] = mlflow_settings(raw["mlflow"], base=base, origin=origin)
    if raw.get("runtime") is not None:
        values["runtime_include"] = _runtime_include(raw["runtime"], origin)
    return values


def _runtime_include(table: Mapping[str, Any], origin: str) -> tuple[str, ...]:
    """``[runtime]``: ``include``, the runtime parts to vendor (runtime_features.FEATURES)."""
    from .emit.runtime_features import check_include

    for key in table:
        if key != "include":
            close = difflib.get_close_matches(key, ["include"], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise CompileError(
                f"unknown setting runtime.{key}; {hint}[runtime] takes include = [...]",
                path=origin,
                line=_line_of(origin, key),
            )
    try:
        return check_include(table.get("include", []))
    except ValueError as exc:
        raise CompileError(str(exc), path=origin, line=_line_of(origin, "include")) from None


def _line_of(origin: str, key: str) -> int | None:
    """The first line of the config file ``origin`` that sets ``key`` (None for flags)."""
    if not origin.endswith(".toml"):
        return None
    try:
        lines = Path(origin).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"(^|[{{,\s]){re.escape(key)}\s*=")
    return next((n for n, line in enumerate(lines, 1) if pattern.search(line)), None)


def _teacher(text: str, base: Path, origin: str) -> Target | Path:
    """``file.py:Class`` (a program), else the folder of an emitted package."""
    if text.endswith(".py") or ".py:" in text:
        return Target.parse(text, base, "teacher", origin)
    return (base / text).resolve()


def _lm_settings(raw: Mapping[str, Any], key: str, origin: str) -> dict[str, Any]:
    from castlm.base._errors import ConfigurationError
    from castlm.lm._lm_settings import check_settings

    try:
        return check_settings(raw, where=key)
    except ConfigurationError as exc:
        raise CompileError(str(exc), path=origin) from None


def _min_score(score: Any, origin: str) -> float:
    if isinstance(score, bool) or not 0 <= score <= 100:
        raise CompileError(
            f"min_score is a dev score from 0 to 100 (the scale of the printed scores), "
            f"got {score!r}",
            path=origin,
        )
    return float(score)


def _predictor_lms(table: Mapping[str, Any], origin: str) -> dict[str, str]:
    for name, lm in table.items():
        if not isinstance(lm, str) or not lm.strip():
            raise CompileError(
                f'predictor_lms.{name} must be an LM name such as "openai/gpt-4o-mini", got {lm!r}',
                path=origin,
            )
    return {str(name): str(lm).strip() for name, lm in table.items()}


def _validation(raw: Mapping[str, Any], base: Path, origin: str) -> dict[str, Any]:
    """``val`` (a file) or ``val_fraction`` (a share of the training data), checked."""
    if raw.get("val") and raw.get("val_fraction") is not None:
        raise CompileError(
            "set either val (a file) or val_fraction (a share of the training data), not both",
            path=origin,
        )
    if raw.get("val"):
        return {"val": (base / raw["val"]).resolve()}
    if raw.get("val_fraction") is None:
        return {}
    fraction = float(raw["val_fraction"])
    if not 0.0 < fraction < 1.0:
        raise CompileError(
            f"val_fraction must be between 0 and 1 (e.g. 0.2), got {fraction}", path=origin
        )
    return {"val_fraction": fraction}


def _budget(raw: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """``max_lm_calls``, ``max_cost`` and ``prices``, checked."""
    values: dict[str, Any] = {}
    calls = raw.get("max_lm_calls")
    if calls is not None:
        if isinstance(calls, bool) or calls < 0:
            raise CompileError(
                f"max_lm_calls must be a whole number >= 0, got {calls!r}", path=origin
            )
        values["max_lm_calls"] = calls
    cost = raw.get("max_cost")
    if cost is not None:
        if isinstance(cost, bool) or not cost >= 0:  # NaN too: it would disable the cap
            raise CompileError(
                f"max_cost must be a number of US dollars >= 0, got {cost!r}", path=origin
            )
        values["max_cost"] = float(cost)
    if raw.get("prices"):
        values["prices"] = {name: _price(name, p, origin) for name, p in raw["prices"].items()}
    return values


def _price(name: str, price: Any, origin: str) -> tuple[float, float]:
    ok = isinstance(price, list | tuple) and len(price) == 2
    if ok and all(isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in price):
        return float(price[0]), float(price[1])
    raise CompileError(
        f"prices.{name} must be [input_usd, output_usd] per million tokens, e.g. [0.15, 0.6], "
        f"got {price!r}",
        path=origin,
    )


def _check_keys(raw: Mapping[str, Any], origin: str) -> None:
    for key, value in raw.items():
        if key not in _KEYS:
            close = difflib.get_close_matches(key, list(_KEYS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(_KEYS)}"
            if key in ("api_key", "key"):
                hint = "; API keys never go in config files: set CASTLM_API_KEY in the environment"
            raise CompileError(f"unknown setting {key!r}{hint}", path=origin)
        expected = _KEYS[key]
        if value is not None and not isinstance(value, expected):
            names = " or ".join(
                t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,))
            )
            raise CompileError(f"setting {key!r} must be {names}, got {value!r}", path=origin)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise CompileError(f"cannot read config: {exc.strerror}", path=path) from exc
    if len(raw) > _MAX_CONFIG_BYTES:
        raise CompileError(f"a config file is at most {_MAX_CONFIG_BYTES} bytes", path=path)
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CompileError(
            f"not valid UTF-8 (byte {raw[exc.start]:#04x}); save the file as UTF-8",
            path=path,
            line=raw.count(b"\n", 0, exc.start) + 1,
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise CompileError(
            f"invalid TOML: {exc}", path=path, line=int(line[1]) if line else None
        ) from exc
    except RecursionError as exc:
        raise CompileError("the TOML is nested too deeply to read", path=path) from exc


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
