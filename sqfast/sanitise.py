"""Strip secrets from a configuration before it is stored or shown.

A key whose name contains `key`, `secret`, `token` or `password` (any case) has its whole value
masked, whatever its type; a credential embedded in a URL's query string (`?apiKey=...`) is masked
inside any string. Masking errs on the side of hiding: a parameter called `sort_key` is masked too.
"""

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(r"key|secret|token|password|passwd|credential", re.IGNORECASE)
_SECRET_IN_TEXT = re.compile(
    r"(?i)((?:api[_-]?key|apikey|key|secret|token|password|passwd)=)([^&\s#]+)"
)


def is_secret_name(name: str) -> bool:
    """True when a configuration key's name says its value is a credential."""
    return bool(_SECRET_NAME.search(name))


def sanitise(config: Any) -> Any:
    """A JSON-ready copy of `config` with every secret masked; the argument is not modified."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return {str(k): MASK if is_secret_name(str(k)) else sanitise(v) for k, v in config.items()}
    if isinstance(config, set | frozenset):
        return sorted((sanitise(v) for v in config), key=repr)
    if isinstance(config, list | tuple):
        return [sanitise(v) for v in config]
    if isinstance(config, str):
        return _SECRET_IN_TEXT.sub(rf"\g<1>{MASK}", config)
    if config is None or isinstance(config, bool | int | float):
        return config
    return sanitise(str(config))  # paths, enums, secret wrappers (whose str is masked)
