"""Names for the project-local modules vendored into the package.

A local file keeps the dotted name the program imports it by, which is its place under the
program's folder: ``helpers.py`` is ``helpers``, ``utils/text.py`` is ``utils.text`` and
``utils/__init__.py`` is ``utils``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from castlm.compiler.emit.errors import EmitError

# Files of the package that a vendored local module must not replace.
_GENERATED = frozenset({"program", "_frozen", "_runtime", "__init__", "manifest"})


def local_module_names(
    program_path: Path, local_modules: Mapping[str, Path] | Sequence[Path]
) -> dict[str, Path]:
    """Dotted module name -> source file, checked."""
    if isinstance(local_modules, Mapping):
        named = dict(local_modules)
    else:
        root = program_path.resolve().parent
        named = {_name_under(root, Path(path)): Path(path) for path in local_modules}
    for name in named:
        if not all(part.isidentifier() for part in name.split(".")):
            raise EmitError(f"local module name {name!r} is not a dotted Python name")
        if name.split(".")[0] in _GENERATED:
            raise EmitError(
                f"the local module {name!r} would replace a file castlm generates; rename it"
            )
    return named


def _name_under(root: Path, path: Path) -> str:
    resolved = path.resolve()
    if not resolved.is_relative_to(root) or resolved.suffix != ".py":
        raise EmitError(
            f"cannot vendor {path}: only .py files under the program's folder {root} can be "
            f"named by their place; pass local_modules as a mapping of module name to file"
        )
    parts = list(resolved.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if not parts:
        raise EmitError(f"cannot vendor {path}: the program's folder is not a package to copy")
    return ".".join(parts)


def module_file(name: str, source: Path) -> tuple[str, int]:
    """Where a local module goes inside the package, and how many dots reach the root."""
    is_package = source.name == "__init__.py"
    relative = name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
    # Dots from the module's own package up to the emitted package's root.
    return relative, name.count(".") + 1 + is_package
