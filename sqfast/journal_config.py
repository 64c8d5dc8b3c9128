"""Which configuration changes a resumed run must refuse, and how to name them.

A run directory belongs to one configuration: resuming it with other strategies, allocations,
parameters, capital, symbols or mode would mix two ledgers. Keys that only say how long, how fast
or how verbosely the run goes, where it was declared, or the risk limits (an operator may tighten
them) are restart-safe and ignored wherever they appear. Secrets are compared masked, so rotating
a key is not a change.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .sanitise import sanitise

RESTART_SAFE = frozenset({
    "duration", "duration_seconds", "speed", "verbose", "verbosity", "quiet", "live", "log_level",
    "run_dir", "portfolio_path", "symbols_file", "origin", "risk",
})


def material(config: Any) -> Any:
    """The sanitised configuration without its restart-safe keys, at any depth."""
    return _strip(sanitise(config))


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in RESTART_SAFE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def config_hash(config: Any) -> str:
    """SHA-256 of the material configuration, canonical JSON."""
    canonical = json.dumps(material(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_changes(old: Any, new: Any) -> list[str]:
    """What changed between two configurations in a way that matters to a resumed run, one
    "path: old -> new" line each (tables of strategies are named by their `id`)."""
    out: list[str] = []
    _diff(material(old), material(new), "", out)
    return out


def _keyed(items: list) -> dict[str, Any] | None:
    """A list of tables that all carry a distinct `id` (or `file`), as a dict keyed by it."""
    if not items or not all(isinstance(i, Mapping) and ("id" in i or "file" in i) for i in items):
        return None
    keyed = {str(i.get("id", i.get("file"))): i for i in items}
    return keyed if len(keyed) == len(items) else None


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalars(old: list, new: list, path: str, out: list[str]) -> None:
    added = [v for v in new if v not in set(old)]
    removed = [v for v in old if v not in set(new)]
    if not added and not removed:
        out.append(f"{path}: same {len(new)} items in another order")
        return
    parts = [f"{len(items)} {what} ({_show(items[:5])[1:-1]}{', ...' if len(items) > 5 else ''})"
             for what, items in (("added", added), ("removed", removed)) if items]
    out.append(f"{path}: {', '.join(parts)}")


def _is_scalars(items: list) -> bool:
    return all(isinstance(v, str | int | float | bool) or v is None for v in items)


def _diff(old: Any, new: Any, path: str, out: list[str]) -> None:
    if isinstance(old, list) and isinstance(new, list):
        if old == new:
            return
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is None or new_keyed is None:
            if _is_scalars(old) and _is_scalars(new):
                _scalars(old, new, path, out)
            else:
                out.append(f"{path}: {_show(old)} -> {_show(new)}")
            return
        _diff_tables(old_keyed, new_keyed, lambda k: f"{path}[{k}]", out)
    elif isinstance(old, Mapping) and isinstance(new, Mapping):
        _diff_tables(old, new, lambda k: f"{path}.{k}" if path else str(k), out)
    elif old != new:
        out.append(f"{path}: {_show(old)} -> {_show(new)}")


def _diff_tables(old: Mapping, new: Mapping, path_of, out: list[str]) -> None:
    for key in sorted(set(old) | set(new), key=str):
        if key not in new:
            out.append(f"{path_of(key)}: removed (was {_show(old[key])})")
        elif key not in old:
            out.append(f"{path_of(key)}: added ({_show(new[key])})")
        else:
            _diff(old[key], new[key], path_of(key), out)
