"""``painterly serve``: the web studio and REST API.

Its options are the fields of :class:`painterly.web.config.ServerConfig`, so each is described once.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from pathlib import Path

import click

from painterly.cli.common import config_kwargs, fail, field_help, handle_errors, options_from_config
from painterly.errors import PainterlyError
from painterly.web.config import ServerConfig
from painterly.web.policy import AccessConfig, RetentionConfig

SERVE_OPTIONS = ["host", "port", "data_dir", "workers", "token", "max_upload_mb", "max_pixels", "max_size",
                 "max_steps", "max_video_mb", "max_video_seconds", "max_video_size", "rate_limit_per_minute",
                 "rate_limit_burst", "device", "cluster"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Refuse, with one line, a port another program listens on (uvicorn would print a traceback-like log)."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise PainterlyError(f"cannot find the address of --host {host}: pass an IP address or a known name") from None
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a closing port is free
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PainterlyError(f"port {port} is in use: pick another with --port") from None
            raise PainterlyError(f"cannot listen on {host} port {port}: {error.strerror}") from None


@click.command("serve")
@options_from_config(ServerConfig, SERVE_OPTIONS, overrides={
    "port": {"type": click.IntRange(1, 65535)},
    "workers": {"type": click.IntRange(1, 64)},
    "data_dir": {"type": click.Path(file_okay=False, path_type=Path),
                 "help": "Folder for the job database, uploads and results  [default: the user data folder/studio]."},
    "token": {"envvar": "PAINTERLY_TOKEN", "help": "When set, every /api call must send 'Authorization: Bearer TOKEN' "
                                                   "or 'X-Token: TOKEN' (or set PAINTERLY_TOKEN)."},
    "max_upload_mb": {"type": click.FloatRange(min=0.01)},
    "max_pixels": {"type": click.IntRange(min=1024)},
    "max_size": {"type": click.IntRange(min=16)},
    "max_steps": {"type": click.IntRange(min=1)},
    "max_video_mb": {"type": click.FloatRange(min=0.01)},
    "max_video_seconds": {"type": click.FloatRange(min=0.1)},
    "max_video_size": {"type": click.IntRange(min=16)},
    "rate_limit_per_minute": {"type": click.FloatRange(min=0)},
    "rate_limit_burst": {"type": click.IntRange(min=1)},
})
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help=field_help(AccessConfig)["allowed_hosts"] + "  Repeat it for more names.")
@options_from_config(AccessConfig, ["tokens"], overrides={
    "tokens": {"type": click.Path(dir_okay=False, path_type=Path), "metavar": "FILE"},
})
@options_from_config(RetentionConfig, ["keep_days", "max_disk_mb"], overrides={
    "keep_days": {"type": click.FloatRange(min=0, min_open=True), "metavar": "N"},
    "max_disk_mb": {"type": click.FloatRange(min=0, min_open=True), "metavar": "MIB"},
})
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Server log level.")
@handle_errors
def serve_command(log_level: str, **values):
    """Start the web studio and REST API, then open http://HOST:PORT/ in a browser.

    It answers only to loopback names, --host and --allowed-host names, and takes changes only from its own
    page. docs/web.md describes the REST API, its errors and the security options.
    """
    try:
        import fastapi  # noqa: F401
        import multipart  # noqa: F401
        import uvicorn
    except ImportError as error:
        fail(f"the web studio needs fastapi, uvicorn and python-multipart ({error.name} is missing): "
             "pip install 'painterly[web]'")
    from painterly.web import create_app

    config = ServerConfig(**config_kwargs(ServerConfig, values))
    access = AccessConfig(**config_kwargs(AccessConfig, values))
    retention = RetentionConfig(**config_kwargs(RetentionConfig, values))
    check_port_free(config.host, config.port)
    if not _is_loopback(config.host) and not config.token and not access.tokens:
        click.echo(f"warning: serving on {config.host} without --token: anyone who can reach it can run jobs", err=True)
    if config.host in ("0.0.0.0", "::") and not access.allowed_hosts:
        click.echo("warning: the studio answers only to localhost and 127.0.0.1: name the address or host name "
                   "others use with --allowed-host", err=True)
    app = create_app(config, access=access, retention=retention)
    app.state.studio.lock_data_dir()  # fail here, with one line, rather than inside uvicorn's start-up
    host = f"[{config.host}]" if ":" in config.host else config.host
    click.echo(f"Painterly studio on http://{host}:{config.port}/  (data in {app.state.studio.storage.root}; "
               "Ctrl+C stops)", err=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level)
