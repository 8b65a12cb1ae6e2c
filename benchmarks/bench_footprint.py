"""Installed footprint of what production needs: distributions and site-packages size.

castlm: a fresh venv with the runtime dependencies the emitted package declares in its
pyproject.toml, plus the package itself (counted as one distribution, its folder as its size).
DSPy: a fresh venv with ``dspy==3.4.1``. Both venvs are made without pip (``venv
--without-pip``) and filled by the suite's pip (``pip --python``), so site-packages holds
exactly what was installed; pip compiles bytecode on both sides alike. Size is the sum of the
file sizes under site-packages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NAME = "Installed footprint"
MAX_DISTRIBUTIONS = 15
SIZE_FRACTION = 0.1
MIB = 1024 * 1024


def fresh_venv(base_python: Path, folder: Path, requirements: list[str]) -> Path:
    """A new venv at ``folder`` holding ``requirements``; returns its site-packages."""
    from harness import project_python, run, venv_python

    run([base_python, "-m", "venv", "--without-pip", folder], timeout=300)
    python = venv_python(folder)
    run(
        [project_python(), "-m", "pip", "--python", python, "install", "-q", *requirements],
        timeout=900,
    )
    found = list(folder.glob("lib/python*/site-packages")) or list(folder.glob("Lib/site-packages"))
    return found[0]


def distributions(site_packages: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in site_packages.glob("*.dist-info"))


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def run(ctx: Any) -> Any:
    from harness import (
        DSPY_REQUIREMENT,
        Result,
        Row,
        at_most_fraction,
        base_python,
        package_dependencies,
    )

    out, package = ctx.emitted_package()
    requirements = package_dependencies(out)
    castlm_site = fresh_venv(base_python(), ctx.workdir / "venv-castlm", requirements)
    dspy_site = fresh_venv(base_python(), ctx.workdir / "venv-dspy", [DSPY_REQUIREMENT])

    castlm_dists = [*distributions(castlm_site), package]
    dspy_dists = distributions(dspy_site)
    castlm_mib = (size_of(castlm_site) + size_of(out / package)) / MIB
    dspy_mib = size_of(dspy_site) / MIB
    count_ok = len(castlm_dists) <= MAX_DISTRIBUTIONS
    rows = [
        Row(
            "installed distributions",
            len(castlm_dists),
            len(dspy_dists),
            "distributions",
            len(castlm_dists) / len(dspy_dists),
            "castlm/DSPy",
            f"castlm ≤ {MAX_DISTRIBUTIONS}",
            count_ok,
        ),
        at_most_fraction("installed size", castlm_mib, dspy_mib, "MiB", SIZE_FRACTION),
    ]
    details = "\n".join(
        [
            f"castlm installs `{' '.join(requirements)}` (from the emitted package's "
            f"pyproject.toml) plus the package `{package}`; DSPy installs `{DSPY_REQUIREMENT}`.",
            "",
            f"- castlm ({len(castlm_dists)}, {castlm_mib:.1f} MiB): {', '.join(castlm_dists)}",
            f"- DSPy ({len(dspy_dists)}, {dspy_mib:.1f} MiB): {', '.join(dspy_dists)}",
            "",
            _vendored(out, package),
            "",
            "Largest DSPy dependencies (MiB): " + _largest(dspy_site),
            *_count_explanation(castlm_dists, count_ok),
        ]
    )
    return Result(NAME, rows, details)


# aiohttp (the async HTTP client) and what it brings with it; yarl needs idna, which httpx
# already brings.
AIOHTTP_FAMILY = (
    "aiohttp",
    "aiohappyeyeballs",
    "aiosignal",
    "attrs",
    "frozenlist",
    "multidict",
    "propcache",
    "yarl",
)


def _vendored(out: Path, package: str) -> str:
    """What the package vendors of castlm's runtime, as its manifest records it, and what
    each part of it weighs (runtime_size.py)."""
    from runtime_size import markdown, weigh

    manifest = json.loads((out / package / "manifest.json").read_text(encoding="utf-8"))
    runtime = manifest["runtime"]
    return "\n".join(
        [
            f"`{package}/_runtime/` (only the runtime layers the program reaches): "
            f"{runtime['bytes'] / 1000:.1f} kB in {runtime['files']} files, layers "
            f"{', '.join(runtime['layers'])}. By job (`benchmarks/runtime_size.py`; code only "
            "= without docstrings, comments and blank lines):",
            "",
            markdown(weigh(out / package / "_runtime")),
        ]
    )


def _count_explanation(dists: list[str], count_ok: bool) -> list[str]:
    family = [d for d in dists if d.lower() in AIOHTTP_FAMILY]
    if count_ok or not family:
        return []
    return [
        "",
        f"The distribution count misses its target because the async path runs on aiohttp, "
        f"which comes with {len(family) - 1} small distributions of its own "
        f"({', '.join(family)}: {len(family)} in all); the size stays far below DSPy's.",
    ]


def _largest(site_packages: Path, top: int = 8) -> str:
    sizes: dict[str, int] = {}
    for entry in site_packages.iterdir():
        if entry.name.endswith((".dist-info", ".pth")) or entry.name == "__pycache__":
            continue
        name = entry.name.split(".")[0]
        size = size_of(entry) if entry.is_dir() else entry.stat().st_size
        sizes[name] = sizes.get(name, 0) + size
    ranked = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {size / MIB:.1f}" for name, size in ranked)
