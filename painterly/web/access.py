"""Who may use the studio, and from which pages: checks every request passes before a route sees it.

- **Host names.** The server answers only to the names it is meant to be reached by: loopback names
  (``localhost``, ``127.0.0.1``, ``::1``), the ``--host`` it listens on, and those added with
  ``--allowed-host``. A web page on another domain that re-points its name to this machine (DNS
  rebinding) gets a 400, so it can neither list jobs nor download their photos.
- **Token.** ``--token`` makes every ``/api`` call send ``Authorization: Bearer TOKEN`` or ``X-Token``.
"""

from __future__ import annotations

import hmac
from typing import Optional

from starlette.requests import Request

from painterly.web.config import ServerConfig
from painterly.web.errors import ApiError
from painterly.web.policy import AccessConfig

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")


def split_host(value: str) -> tuple[str, Optional[int]]:
    """``("name", port)`` of a ``Host`` header or URL authority (``[::1]:8000`` → ``("::1", 8000)``);
    the name lower-cased, without a trailing dot; port ``None`` when absent or not a number."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    return name.rstrip("."), int(port) if port.isdigit() else None


def allowed_host_names(config: ServerConfig, access: AccessConfig) -> frozenset[str]:
    """The host names the server answers to (``*`` among them: any)."""
    names = {*LOOPBACK_NAMES, *(split_host(name)[0] for name in access.allowed_hosts)}
    if config.host not in WILDCARD_ADDRESSES:
        names.add(split_host(config.host)[0])
    return frozenset(names)


def given_token(request: Request) -> Optional[str]:
    """The token a request sends, in ``X-Token`` or as ``Authorization: Bearer …``."""
    given = request.headers.get("x-token")
    authorization = request.headers.get("authorization", "")
    if given is None and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    return given


class Gate:
    """The checks of :mod:`painterly.web.access` for one server; :meth:`check` raises :class:`ApiError`."""

    def __init__(self, config: ServerConfig, access: AccessConfig):
        self.hosts = allowed_host_names(config, access)
        self.token = config.token

    def check(self, request: Request) -> Optional[str]:
        """Refuse a request that fails a check; returns its user's name (``None``: no users here)."""
        self.check_host(request)
        path = request.url.path
        return self.authenticate(request) if path == "/api" or path.startswith("/api/") else None

    def check_host(self, request: Request) -> None:
        if "*" in self.hosts:
            return
        name = split_host(request.headers.get("host", ""))[0]
        if name not in self.hosts:
            shown = ", ".join(sorted(self.hosts))
            raise ApiError(400, "host_not_allowed", f"this server answers only to {shown}: open it by one of these "
                                                    "names, or start it with --allowed-host NAME")

    def authenticate(self, request: Request) -> Optional[str]:
        given = given_token(request)
        if not self.token or (given is not None and hmac.compare_digest(given.encode(), self.token.encode())):
            return None
        raise ApiError(401, "unauthorized", "this server needs a token: send 'Authorization: Bearer TOKEN' "
                                            "or 'X-Token: TOKEN'", {"WWW-Authenticate": "Bearer"})

