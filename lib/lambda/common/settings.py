"""Environment settings of a function, read once and validated with a clear message."""
from __future__ import annotations

import os
from typing import Mapping, Optional


class SettingsError(RuntimeError):
    """A required environment variable is missing: a deployment bug, not a client error."""


def require(name: str, environ: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value
