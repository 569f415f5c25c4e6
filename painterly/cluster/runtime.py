"""Connecting to a Ray cluster: ``auto`` (a running local cluster, else a new one on this machine),
``local`` / ``local:N`` (a new local cluster of N worker CPUs), or ``ray://host:port`` (Ray Client)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from painterly.errors import PainterlyError

INSTALL_HINT = "install the cluster extra: pip install 'painterly[cluster]'"


def require_ray() -> Any:
    """The ``ray`` module, or one line saying which extra to install."""
    try:
        import ray
    except ImportError:
        raise PainterlyError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def parse_address(address: str) -> tuple[Optional[str], Optional[int]]:
    """``(address for ray.init, CPUs of a new local cluster)`` for what ``--cluster`` takes.

    Example:
        >>> parse_address("local:2"), parse_address("ray://head:10001"), parse_address("auto")
        ((None, 2), ('ray://head:10001', None), ('auto', None))
    """
    text = address.strip()
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2]
        if count and (not count.isdigit() or int(count) < 1):
            raise PainterlyError(f"--cluster {address!r}: give local:N with N workers of at least 1")
        return None, int(count) if count else None
    if text == "auto" or text.startswith("ray://") or ":" in text:
        return text, None
    raise PainterlyError(f"--cluster {address!r} is not a cluster address: use auto, local:N, ray://HOST:PORT or HOST:PORT")


@contextlib.contextmanager
def connected(address: str) -> Iterator[Any]:
    """Connected to the cluster ``address`` names for the ``with`` block; a cluster started here is
    shut down after it. Yields the ``ray`` module."""
    ray = require_ray()
    target, cpus = parse_address(address)
    started = False
    if ray.is_initialized():
        yield ray
        return
    options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if target is None:
            ray.init(num_cpus=cpus, **options)
            started = True
        elif target == "auto":
            try:
                ray.init(address="auto", **options)
            except ConnectionError:  # no cluster running here: start one on this machine
                ray.init(**options)
                started = True
        else:
            ray.init(address=target, **options)
    except PainterlyError:
        raise
    except Exception as error:  # Ray raises several types for unreachable or refused clusters
        raise PainterlyError(f"cannot connect to the Ray cluster {address!r} ({type(error).__name__}: "
                             f"{' '.join(str(error).split())[:200]}): start it with `ray start --head`, or use --cluster local") from None  # fmt: skip
    try:
        yield ray
    finally:
        if started or target is not None:
            ray.shutdown()

