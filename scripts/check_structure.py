"""Check the shape of src/tinymlaas: module and function sizes, and the import layers.

- no module over MAX_MODULE_LINES lines,
- no function (or method) over MAX_FUNCTION_LINES lines, Alembic migrations excepted,
- the import-linter contracts of pyproject.toml (every arrow between packages runs down).

Exits 1 and prints every violation when one of them fails. Run from anywhere:

    python scripts/check_structure.py
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "tinymlaas"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Migrations are generated once, one statement per column, and never edited.
EXEMPT_FUNCTIONS = ("db/migrations/versions/",)


def python_files(package: Path) -> Iterator[Path]:
    yield from sorted(package.rglob("*.py"))


def long_module(path: Path) -> str | None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if lines > MAX_MODULE_LINES:
        return f"{_shown(path)}: {lines} lines (at most {MAX_MODULE_LINES} per module)"
    return None


def long_functions(path: Path) -> Iterator[str]:
    relative = path.relative_to(PACKAGE).as_posix()
    if relative.startswith(EXEMPT_FUNCTIONS):
        return
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # From the first decorator to the last line of the body, as a reader sees it.
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                yield (
                    f"{_shown(path)}:{node.lineno}: {node.name}() is {length} lines "
                    f"(at most {MAX_FUNCTION_LINES} per function)"
                )


def size_violations(package: Path = PACKAGE) -> list[str]:
    problems: list[str] = []
    for path in python_files(package):
        if (problem := long_module(path)) is not None:
            problems.append(problem)
        problems.extend(long_functions(path))
    return problems


def layers_kept() -> bool:
    """Run the import-linter contracts in pyproject.toml; it prints what it finds."""
    from importlinter.cli import lint_imports  # type: ignore[import-not-found,unused-ignore]

    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])
    )
    exit_code: int = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    return exit_code == 0


def _shown(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def main() -> int:
    problems = size_violations()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} size violation(s) in {_shown(PACKAGE)}")
    layers_ok = layers_kept()
    return 0 if not problems and layers_ok else 1


if __name__ == "__main__":
    sys.exit(main())
