"""Teacher programs: what bootstrapping runs instead of the student primed with labeled demos.

``teacher`` in the config is a program (``file.py:Class``) or an already emitted package
(its folder). Either is run as it is: its own instructions and demos, on ``teacher_lm``
(else the task LM). Its predictor calls become the student's demos by predictor name, so
every predictor of the student must exist in the teacher with the same signature fields;
this is checked before any LM call.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from castlm import LM, Module
from castlm.core._signature import FieldSpec, SignatureSpec
from pydantic import TypeAdapter

from . import teacher_package
from .config import ProgramConfig, Target
from .deps import local_dependencies
from .errors import CompileError
from .loader import load_module_class
from .preflight import _at

#: Where an error points: a path (or a label such as "optimize()"), or a function that makes
#: the error (one at the config line that set ``teacher``).
Origin = Path | str | None | Callable[[str], CompileError]


def load_teacher(config: ProgramConfig, student: Module, lm: LM) -> Module | None:
    """The configured teacher on ``lm``, checked against ``student``; None without one."""
    if config.teacher is None:
        return None

    def origin(message: str) -> CompileError:  # at the config line (or flag) that set it
        return _at(config, "teacher", message)

    if isinstance(config.teacher, Target):
        teacher = _instantiate(load_module_class(config.teacher), config.teacher)
    else:
        teacher = load_package(config.teacher, origin)
    teacher.set_lm(lm)
    check_teacher(teacher, student, origin)
    return teacher


def load_package(path: Path, origin: Origin) -> Module:
    """The emitted package at ``path`` as a teacher program (see teacher_package.py);
    errors point at ``origin``."""
    found = teacher_package.find(path)
    if isinstance(found, str):
        raise _error(origin, f"the teacher {path} {found}")
    try:
        return teacher_package.load(found)
    except CompileError as exc:
        raise _error(origin, exc.message) from exc


def check_teacher(teacher: Module, student: Module, origin: Origin) -> None:
    """A teacher's demos go to the student's predictors of the same name: it needs them all,
    each with the student's signature fields (names, roles and types)."""
    theirs = dict(teacher.named_predictors())
    missing = [n for n, _ in student.named_predictors() if n not in theirs]
    if missing:
        raise _error(
            origin,
            f"the teacher {type(teacher).__name__} lacks the student's predictor(s) "
            f"{', '.join(missing)}; a teacher's demos go to the student's predictors of the same "
            f"name, so give it the same attributes (they may carry other instructions, demos "
            f"or LMs)",
        )
    for name, predictor in student.named_predictors():
        difference = signature_difference(theirs[name].spec, predictor.spec)
        if difference is not None:
            raise _error(
                origin,
                f"the teacher {type(teacher).__name__}'s predictor {name!r} differs from the "
                f"student's: {difference}; its calls would be demos with the wrong fields, so "
                f"give both the same signature fields (instructions may differ)",
            )


def signature_difference(theirs: SignatureSpec, ours: SignatureSpec) -> str | None:
    """The first way the teacher's signature fields differ from the student's, or None."""
    mine, other = ours.fields, theirs.fields
    for name, field in mine.items():
        if name not in other:
            return f"it has no {field.role} field {name!r} ({ours.name} has)"
        if other[name].role != field.role:
            return f"{name!r} is an {other[name].role} field there, an {field.role} field here"
        if _shape(other[name]) != _shape(field):
            return (
                f"field {name!r} is {other[name].type_description} there, "
                f"{field.type_description} here"
            )
    extra = [n for n in other if n not in mine]
    if extra:
        return f"it has the field(s) {', '.join(map(repr, extra))}, which {ours.name} lacks"
    return None


def _shape(field: FieldSpec) -> Any:
    """A field's type as data, without titles and descriptions (two copies of one model
    class, such as the package's and the source's, compare equal)."""
    try:
        schema = TypeAdapter(field.annotation).json_schema()
    except Exception:  # a type without a JSON schema: its description decides
        return field.type_description
    return _strip(schema)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("title", "description")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def teacher_files(config: ProgramConfig) -> list[Path]:
    """The files a teacher is made of (for the inputs fingerprint): a program's source and
    its local imports, or a package's own files."""
    if config.teacher is None:
        return []
    if isinstance(config.teacher, Target):
        path = config.teacher.path
        return [path, *local_dependencies(path, config.project_dir)] if path.is_file() else []
    found = teacher_package.find(config.teacher)
    return found.files() if isinstance(found, teacher_package.PackageFolder) else []


def _error(origin: Origin, message: str) -> CompileError:
    return origin(message) if callable(origin) else CompileError(message, path=origin)


def _instantiate(module_class: type[Module], target: Target) -> Module:
    try:
        return module_class()
    except Exception as exc:
        raise CompileError(
            f"creating the teacher {module_class.__name__}() failed: {type(exc).__name__}: "
            f"{exc}; a teacher's __init__ must take no arguments",
            path=target.path,
        ) from exc
