"""Entry points: analyze a castlm program's source into a ProgramIR.

The analyzer never imports or runs the user's program; it works on the libcst
tree alone. A file that does not parse yields an empty ProgramIR carrying one
CL001 diagnostic.
"""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from pathlib import Path

import libcst as cst
from castlm.compiler.analyze import asyncable
from castlm.compiler.analyze.callchecks import CallChecker
from castlm.compiler.analyze.classes import ClassClassifier
from castlm.compiler.analyze.context import Locator, Reporter
from castlm.compiler.analyze.imports import ImportCollector
from castlm.compiler.analyze.modules import ModuleBuilder
from castlm.compiler.analyze.predictors import SignatureArgumentChecker
from castlm.compiler.analyze.signatures import SignatureBuilder
from castlm.compiler.analyze.toplevel import ToplevelCollector
from castlm.compiler.analyze.typecheck import AnnotationChecker
from castlm.compiler.diagnostics import Diagnostic, sort_diagnostics
from castlm.compiler.ir import ProgramIR
from libcst.metadata import MetadataWrapper, PositionProvider


def syntax_error(source: str, path: str) -> Diagnostic | None:
    """CL001 for source Python rejects; CPython's parser gives the clearest position."""
    try:
        with warnings.catch_warnings():
            # e.g. SyntaxWarning for "\d" escapes: Python's business, not castlm's.
            warnings.simplefilter("ignore")
            ast.parse(source, filename=path)
    except SyntaxError as error:
        return Diagnostic(
            path, error.lineno or 1, error.offset or 1, "CL001", f"syntax error: {error.msg}"
        )
    except ValueError as error:  # e.g. null bytes in the source
        return Diagnostic(path, 1, 1, "CL001", f"syntax error: {error}")
    return None


def _parse(source: str, path: str) -> cst.Module | Diagnostic:
    error = syntax_error(source, path)
    if error is not None:
        return error
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as failure:
        # Valid Python libcst cannot parse (rare: newer syntax than libcst knows).
        return Diagnostic(
            path,
            failure.raw_line,
            failure.raw_column + 1,
            "CL001",
            f"syntax error: {failure.message}",
        )


def _empty_program(source: str, path: str, error: Diagnostic) -> ProgramIR:
    return ProgramIR(path, source, (), (), (), (), (), (error,))


def analyze_source(source: str, path: str) -> ProgramIR:
    """Analyze a program's text; ``path`` is only used in locations and diagnostics."""
    parsed = _parse(source, path)
    if isinstance(parsed, Diagnostic):
        return _empty_program(source, path, parsed)
    wrapper = MetadataWrapper(parsed)
    module = wrapper.module
    locator = Locator(module, wrapper.resolve(PositionProvider))
    reporter = Reporter(path, locator)

    imports = ImportCollector(locator)
    module.visit(imports)
    aliases = imports.aliases
    toplevel = ToplevelCollector()
    module.visit(toplevel)
    classifier = ClassClassifier(toplevel.classes, aliases)
    checker = AnnotationChecker(aliases, classifier, toplevel.kinds, reporter)

    signatures = SignatureBuilder(
        toplevel.classes, aliases, classifier, checker, reporter
    ).build_all()
    modules = ModuleBuilder(
        toplevel.classes,
        aliases,
        classifier,
        SignatureArgumentChecker(aliases, classifier, toplevel.kinds, reporter),
        CallChecker({s.name: s for s in signatures}, reporter),
        reporter,
        asyncable.blocking_functions(module, aliases),
    ).build_all()
    return ProgramIR(
        path=path,
        source=source,
        signatures=tuple(signatures),
        modules=tuple(modules),
        imports=tuple(imports.imports),
        toplevel_names=tuple(toplevel.kinds),
        classes=tuple(classifier.class_irs(locator)),
        diagnostics=tuple(sort_diagnostics(reporter.diagnostics)),
    )


def _read_source(path: Path) -> str | Diagnostic:
    """Decode a source file the way Python does (coding cookie, else UTF-8)."""
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as error:
        return Diagnostic(str(path), 1, 1, "CL001", f"cannot decode source: {error}")


def analyze_file(path: str | Path) -> ProgramIR:
    """Analyze a program file; an undecodable file yields a CL001 diagnostic."""
    source = _read_source(Path(path))
    if isinstance(source, Diagnostic):
        return _empty_program("", str(path), source)
    return analyze_source(source, str(path))
