"""The compile cache: generated step modules written to files and imported.

Numba can cache only functions that live in real files, so each strategy's generated source is
written under the cache directory (`SQFAST_CACHE_DIR`, else the user cache directory) in a file
named by a hash of everything it depends on: the strategy's source, class and parameters, the
generated source itself (so any change to the code generator gives a new file), the sources it
calls into (kernels, compiled broker), and the versions of sqfast and Numba. A second process
finds the file and Numba's own cache beside it, and compiles nothing.
"""

import functools
import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numba

from .. import __version__, kernels


def cache_dir() -> Path:
    """Where generated step modules live."""
    configured = os.environ.get("SQFAST_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sqfast"


@functools.cache
def compiled_sources_fingerprint() -> str:
    """A hash of the sources a generated module calls into (the kernels, the compiled broker, the
    intent decoder): Numba's cache of a generated step cannot see changes in them, so the step's
    file name must."""
    digest = hashlib.sha256()
    root = Path(kernels.__file__).parent
    package = Path(__file__).resolve().parents[1]
    paths = [*sorted(root.glob("*.py")), *sorted((package / "sim").glob("compiled*.py")),
             package / "compile" / "intents.py"]
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(source: str, class_name: str, params: dict, generated: str) -> str:
    """A hash of what a generated step depends on."""
    parts = (source, class_name, repr(sorted(params.items())), generated, __version__, numba.__version__,
             compiled_sources_fingerprint())
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def load_step_module(key: str, generate_source) -> tuple[ModuleType, bool]:
    """Import the step module for `key`, writing it first from `generate_source()` if absent.

    Returns the module and whether it was already in the cache.
    """
    directory = cache_dir()
    path = directory / f"step_{key}.py"
    cached = path.is_file()
    if not cached:
        directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(generate_source())
        os.replace(partial, path)  # atomic: another process never sees half a file
    name = f"sqfast_step_{key}"
    if name in sys.modules:
        return sys.modules[name], cached
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, cached
