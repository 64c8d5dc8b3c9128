"""The design's import rules, checked by parsing the source (DESIGN.md, "Layout")."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL_ALLOWED = {"numpy", "numba", "math"} | set(sys.stdlib_module_names)
ADAPTER_CORE = {"sqfast.types", "sqfast.protocols", "sqfast.errors"}
HEAVY = ("pandas", "polars", "alpaca", "websockets", "backtesting")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Absolute module names imported by a file, with line numbers (relative imports resolved)."""
    package = path.parent.relative_to(ROOT).parts
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = (*_installed(base), *([node.module] if node.module else []))
                found.append((node.lineno, ".".join(module)))
            else:
                found.append((node.lineno, node.module))
    return found


def _installed(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Map a source directory to its installed package (`kernels` installs as `sqfast.kernels`)."""
    if parts and parts[0] in ("kernels", "adapters"):
        return ("sqfast", *parts)
    return parts


def python_files(directory: str) -> list[Path]:
    return sorted((ROOT / directory).rglob("*.py"))


@pytest.mark.parametrize("path", python_files("kernels"), ids=lambda p: p.name)
def test_kernels_import_only_numpy_numba_math_and_stdlib(path):
    for line, module in imports_of(path):
        top = module.split(".")[0]
        inside = module == "sqfast.kernels" or module.startswith("sqfast.kernels.")
        assert top in KERNEL_ALLOWED or inside, f"{path.name}:{line} imports {module}"


@pytest.mark.parametrize("path", python_files("adapters"), ids=lambda p: p.name)
def test_adapters_import_only_the_core_contracts_of_sqfast(path):
    for line, module in imports_of(path):
        if module.startswith("sqfast.") and not module.startswith("sqfast.adapters"):
            assert module in ADAPTER_CORE, f"{path.name}:{line} imports {module}"


def test_imports_of_resolves_relative_imports():
    """The checker itself must see through `from .x import y`, or the rules above prove nothing."""
    modules = {module for _, module in imports_of(ROOT / "kernels" / "ma.py")}
    assert {"sqfast.kernels._jit", "sqfast.kernels.ring", "numpy"} <= modules


def test_importing_kernels_stays_light():
    code = (
        "import sys, sqfast.kernels\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"import sqfast.kernels pulled in: {result.stdout.strip()}"


CONTRACTS = ("types.py", "protocols.py")
NEVER_ADAPTERS = ("types.py", "protocols.py", "assembler.py", "aggregator.py")


@pytest.mark.parametrize("name", CONTRACTS)
def test_core_contracts_import_only_numpy_the_stdlib_and_each_other(name):
    """Adapters see the contracts, so the contracts see nothing but each other."""
    for line, module in imports_of(ROOT / "sqfast" / name):
        top = module.split(".")[0]
        assert top in {"numpy"} | set(sys.stdlib_module_names) or module in ADAPTER_CORE, \
            f"{name}:{line} imports {module}"


@pytest.mark.parametrize("path", [ROOT / "sqfast" / n for n in NEVER_ADAPTERS]
                         + sorted((ROOT / "sqfast").glob("engine*.py")) + python_files("sqfast/engine"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_side_never_imports_an_adapter(path):
    for line, module in imports_of(path):
        assert not module.startswith("sqfast.adapters"), f"{path.name}:{line} imports {module}"


def test_importing_the_contracts_and_the_assembler_stays_light():
    code = (
        "import sys, sqfast.types, sqfast.protocols, sqfast.assembler, sqfast.aggregator\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {(*HEAVY, 'numba')!r}]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"the contracts pulled in: {result.stdout.strip()}"
