"""The compile cache: generated step modules written to files and imported.

Numba can cache only functions that live in real files, so each strategy's generated source is
written under the cache directory (`SQFAST_CACHE_DIR`, else the user cache directory) in a file
named by a hash of everything it depends on: the strategy's source, class and parameters, the
generated source itself (so any change to the code generator gives a new file), the kernel
sources, and the versions of sqfast and Numba. A second process finds the file and
Numba's own cache beside it, and compiles nothing.
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
def kernels_fingerprint() -> str:
    """A hash of the kernel sources: Numba's cache of a generated step cannot see changes in the
    kernels it calls, so the step's file name must."""
    digest = hashlib.sha256()
    for path in sorted(Path(kernels.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(source: str, class_name: str, params: dict, generated: str) -> str:
    """A hash of what a generated step depends on."""
    parts = (source, class_name, repr(sorted(params.items())), generated, __version__, numba.__version__,
             kernels_fingerprint())
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
