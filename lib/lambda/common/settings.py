"""Environment settings of a function, read once and validated with a clear message."""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Optional


class SettingsError(RuntimeError):
    """A required environment variable is missing: a deployment bug, not a client error."""


def require(name: str, environ: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is required")
    return value


def eager_init(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Build clients and layers at import? Inside Lambda unless INIT_MODE=lazy (the stack sets it).

    The first request waits for the init phase either way, and init has been measured (not
    documented by AWS) to get more CPU than a 256 MB function has while handling a request, so
    work done there costs the first caller no more, likely less. Outside Lambda (tests, tools)
    imports stay light.
    """
    env = os.environ if environ is None else environ
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and env.get("INIT_MODE", "eager").strip().lower() != "lazy"


def warm_up_during_init(warm_up: Callable[[], None], logger: Any) -> None:
    """Run a handler's warm_up() at import when eager_init(); a failure is logged, not raised,
    so the first request retries it and answers with its own error (nothing was cached)."""
    if not eager_init():
        return
    try:
        warm_up()
    except Exception:  # noqa: BLE001 - reported, then retried by the first request
        logger.exception("warm-up during init failed; the first request will retry it")
