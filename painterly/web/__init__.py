"""The web studio and REST API: ``painterly serve``.

``create_app(ServerConfig(...), runner=None)`` builds the FastAPI application; jobs run in worker
threads from a queue persisted in SQLite under the data dir. FastAPI is imported on first use, so
``painterly.web.config`` (and the CLI) work without the ``web`` extras installed.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "create_app": "painterly.web.app",
    "ServerConfig": "painterly.web.config",
    "AccessConfig": "painterly.web.policy",
    "RetentionConfig": "painterly.web.policy",
    "JobOptions": "painterly.web.jobs",
    "StylizeRunner": "painterly.web.jobs",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'painterly.web' has no attribute {name!r}")
