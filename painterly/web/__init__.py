"""The web studio and REST API: ``painterly serve``.

``create_app(ServerConfig(...), runner=None)`` builds the FastAPI application; jobs run in worker
threads from a queue persisted in SQLite under the data dir.
"""

from painterly.web.app import create_app
from painterly.web.config import ServerConfig
from painterly.web.jobs import JobOptions, StylizeRunner

__all__ = ["create_app", "ServerConfig", "JobOptions", "StylizeRunner"]
