"""Static analysis of castlm programs: source in, ProgramIR (plus diagnostics) out."""

from castlm.compiler.analyze.program import analyze_file, analyze_source
from castlm.compiler.analyze.targets import check_target

__all__ = ["analyze_file", "analyze_source", "check_target"]
