"""Settings of who may reach the studio, as dataclasses that ``painterly serve``
fills from its options (like :mod:`painterly.web.config`, this module needs no web extras)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AccessConfig:
    """Who may reach the studio and by which names.

    Attributes:
        allowed_hosts: host names the server answers to besides the loopback names and --host (give the name
            people type, e.g. studio.example.org; '*' answers any name, only behind a proxy that checks it).
    """

    allowed_hosts: tuple[str, ...] = ()

