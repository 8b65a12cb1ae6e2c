"""Parts of the runtime that an emitted package vendors only when its program uses them.

A package's ``_runtime`` holds the modules its program reaches (docs/architecture.md). A few
are reached only through a field type (``History``, ``Image``), through KNN demos, through
a choice made where the package runs: a ``litellm/...`` model, or a fallback chain (models
separated by commas in ``$CASTLM_MODEL__<PREDICTOR_PATH>``), or, in a package compiled with
the stand-in, through a prompt only agents or Refine send (testing/_standin_parts.py). The
runtime imports those inside ``try``, so that a package compiled without one says what is
missing and how to vendor it (castlm.toml's ``[runtime] include``) instead of failing with an
ImportError.
"""

from __future__ import annotations

from ._errors import ConfigurationError

# feature -> what it is, for the message; the compiler's list is
# castlm.compiler.emit.runtime_features.FEATURES (a test keeps the two in step).
PARTS: dict[str, str] = {
    "litellm": "castlm's litellm backend (lm/_litellm.py)",
    "fallback": "castlm's fallback LM (lm/_fallback.py)",
    "history": "castlm's History support (core/_history.py)",
    "image": "castlm's Image support (base/_image.py)",
    "standin-agent": "the stand-in's agent part (testing/_standin_react.py)",
    "standin-proposals": "the stand-in's proposal part (testing/_standin_propose.py)",
}

# This runtime's own package (``castlm``, or ``<pkg>._runtime`` in an emitted package).
_RUNTIME = __name__.rsplit(".", 2)[0]


def not_vendored(feature: str, what: str, error: ImportError) -> Exception:
    """The error to raise when importing ``feature``'s module failed with ``error``: a
    ConfigurationError naming the fix when the module is absent from this runtime, else
    ``error`` itself (a broken install is not a missing feature)."""
    name = error.name or ""
    if not isinstance(error, ModuleNotFoundError) or not name.startswith(f"{_RUNTIME}."):
        return error
    return ConfigurationError(
        f"{what} needs {PARTS[feature]}, which this package was compiled without (an emitted "
        f'package vendors only the runtime its program uses): add include = ["{feature}"] '
        "to the [runtime] table of castlm.toml (or [tool.castlm.runtime] in pyproject.toml) "
        "and compile again"
    )
