"""Run inside a clean virtual environment where only the built wheel is installed.

Checks that the installed `sqfast` holds exactly the modules of the source tree (kernels/ and
adapters/ under the sqfast namespace), that no top-level `kernels` or `adapters` was installed,
and imports every module.
"""

import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

SOURCE_PACKAGES = {"sqfast": "sqfast", "kernels": "sqfast.kernels", "adapters": "sqfast.adapters"}


def source_modules(root: Path) -> set[str]:
    """Every module of the source tree, subpackages included, by its installed name."""
    names = set()
    for directory, package in SOURCE_PACKAGES.items():
        for path in (root / directory).rglob("*.py"):
            parts = path.relative_to(root / directory).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.add(".".join((package, *parts)))
    return names


def installed_modules() -> set[str]:
    import sqfast

    names = {"sqfast"}
    for info in pkgutil.walk_packages(sqfast.__path__, prefix="sqfast."):
        names.add(info.name)
    return names


def main(root: Path) -> int:
    import sqfast

    if Path(sqfast.__file__).resolve().is_relative_to(root.resolve()):
        print(f"wheel check: sqfast was imported from the source tree ({sqfast.__file__}), not the wheel")
        return 1
    for stray in ("kernels", "adapters"):
        if importlib.util.find_spec(stray) is not None:
            print(f"wheel check: a top-level '{stray}' module is installed")
            return 1
    expected, found = source_modules(root), installed_modules()
    if expected != found:
        missing, extra = sorted(expected - found), sorted(found - expected)
        print(f"wheel check: missing from the wheel: {missing}; extra: {extra}")
        return 1
    for name in sorted(found):
        importlib.import_module(name)
    print(f"wheel check: {len(found)} modules installed from the wheel and imported")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
