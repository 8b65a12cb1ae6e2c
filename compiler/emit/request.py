"""What the emitter needs to know to write one package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from castlm import PredictorParams
from castlm.compiler.ir import ProgramIR


@dataclass(frozen=True)
class EmitRequest:
    """One compiled program, ready to be emitted as a standalone package.

    ``manifest`` is written to ``<package>/manifest.json`` with the emitter's own keys added
    (``generator``, ``package``, ``module_class``, ``predictors``, ``files``; these win over
    the caller's). The README shows the caller's ``castlm_version``, ``optimizer``, ``scores``
    (a mapping of name to number) when present; nothing that depends on the LM cache.

    ``local_modules`` are the project-local source files the program imports (transitively),
    vendored next to ``program.py`` and imported relatively. Given as paths, each is named by
    its place under the program's folder (``utils/text.py`` is ``utils.text``; a package is
    given by its ``__init__.py``); a mapping gives the dotted names explicitly.

    ``members`` makes the package an ensemble: one parameter set per member (``params`` is
    the first), whose outputs ``reducer`` reduces: ``(module, function)``, the module being
    ``program`` or a vendored local module; None: castlm's majority vote. ``extra_files``
    are written into the output folder beside the package (paths relative to it).
    """

    program_path: Path
    module_class: str
    package: str
    params: Mapping[str, PredictorParams]
    lm_name: str
    manifest: Mapping[str, Any]
    ir: ProgramIR
    local_modules: Mapping[str, Path] | Sequence[Path] = ()
    version: str = "0.1.0"
    members: Sequence[Mapping[str, PredictorParams]] = ()
    reducer: tuple[str, str] | None = None
    extra_files: Mapping[str, bytes] = field(default_factory=dict)
    #: The task LM's settings at compile time, frozen as the package's defaults.
    lm_settings: Mapping[str, Any] = field(default_factory=dict)
    #: Runtime parts vendored whatever the program uses (castlm.toml's ``[runtime] include``;
    #: compiler/emit/runtime_features.py).
    runtime_include: Sequence[str] = ()

    @property
    def param_sets(self) -> list[Mapping[str, PredictorParams]]:
        """Every parameter set the package holds: the members, or just ``params``."""
        return list(self.members) or [self.params]
