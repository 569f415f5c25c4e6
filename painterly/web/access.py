"""Who may use the studio, and from which pages: checks every request passes before a route sees it.

- **Host names.** The server answers only to the names it is meant to be reached by: loopback names
  (``localhost``, ``127.0.0.1``, ``::1``), the ``--host`` it listens on, and those added with
  ``--allowed-host``. A web page on another domain that re-points its name to this machine (DNS
  rebinding) gets a 400, so it can neither list jobs nor download their photos.
- **Same origin.** A request that changes something (POST, PUT, PATCH, DELETE) must come from the studio's
  own page: when the browser says where it comes from (``Origin``, else ``Referer``, else
  ``Sec-Fetch-Site``), that must be this server. Scripts (curl, Python) send none of these and pass.
- **Content types.** Job uploads are forms (``multipart/form-data``); the other changing requests take no
  body (or JSON). Anything else, such as the ``text/plain`` a cross-site form can send, gets a 415.
- **Tokens.** ``--token`` makes every ``/api`` call send ``Authorization: Bearer TOKEN`` or ``X-Token``;
  ``--tokens FILE`` gives each user a token of their own, and each user sees only their own jobs.
"""

from __future__ import annotations

import hmac
from typing import Optional
from urllib.parse import urlsplit

from starlette.requests import Request

from painterly.web.config import ServerConfig
from painterly.web.errors import ApiError
from painterly.web.policy import AccessConfig

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
UPLOAD_PATHS = ("/api/jobs", "/api/video-jobs")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
BODYLESS_TYPES = ("", "application/json")  # JSON cannot be sent across sites without the server's consent (CORS)


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


def _default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


def _same_origin(url: str, host: str, scheme: str) -> bool:
    """Whether ``url`` (an Origin or Referer) names the server that ``host`` (the Host header) names."""
    parts = urlsplit(url)
    if not parts.netloc:
        return False
    theirs, their_port = split_host(parts.netloc)
    ours, our_port = split_host(host)
    return (theirs, their_port or _default_port(parts.scheme)) == (ours, our_port or _default_port(scheme))


class Gate:
    """The checks of :mod:`painterly.web.access` for one server; :meth:`check` raises :class:`ApiError`."""

    def __init__(self, config: ServerConfig, access: AccessConfig, users: Optional[dict[str, str]] = None):
        self.hosts = allowed_host_names(config, access)
        self.token = config.token
        self.users = users

    def check(self, request: Request) -> Optional[str]:
        """Refuse a request that fails a check; returns its user's name (``None`` without a tokens file)."""
        self.check_host(request)
        path = request.url.path
        user = self.authenticate(request) if path == "/api" or path.startswith("/api/") else None
        if request.method not in SAFE_METHODS:
            self.check_same_origin(request)
            self.check_content_type(request)
        return user

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
        if self.users is not None:
            found = None
            for token, name in self.users.items():  # compare with every token, so timing tells nothing
                if given is not None and hmac.compare_digest(given.encode(), token.encode()):
                    found = name
            if found is not None:
                return found
        elif not self.token or (given is not None and hmac.compare_digest(given.encode(), self.token.encode())):
            return None
        raise ApiError(401, "unauthorized", "this server needs a token: send 'Authorization: Bearer TOKEN' "
                                            "or 'X-Token: TOKEN'", {"WWW-Authenticate": "Bearer"})

    def check_same_origin(self, request: Request) -> None:
        host, scheme = request.headers.get("host", ""), request.url.scheme
        origin = request.headers.get("origin")
        referer = request.headers.get("referer")
        fetch_site = request.headers.get("sec-fetch-site")
        if origin and origin != "null":
            allowed = _same_origin(origin, host, scheme)
        elif referer:
            allowed = _same_origin(referer, host, scheme)
        elif fetch_site:
            allowed = fetch_site in ("same-origin", "none")
        else:
            allowed = origin is None  # no browser hints at all: a script, not a page
        if not allowed:
            raise ApiError(403, "cross_origin", "changes come only from the studio's own page: this request came "
                                                "from another site")

    @staticmethod
    def check_content_type(request: Request) -> None:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if request.url.path in UPLOAD_PATHS and request.method == "POST":
            if media not in FORM_TYPES:
                raise ApiError(415, "unsupported_media_type", "send the job as multipart/form-data: a form with "
                                                              "the file in it")
        elif media not in BODYLESS_TYPES:
            raise ApiError(415, "unsupported_media_type", "this request takes no body: send it without one")
