"""Settings of who may reach the studio and how long it keeps jobs, as dataclasses that ``painterly serve``
fills from its options (like :mod:`painterly.web.config`, this module needs no web extras)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from painterly.errors import PainterlyError

MIN_TOKEN_CHARS = 8


@dataclass
class AccessConfig:
    """Who may reach the studio and by which names.

    Attributes:
        allowed_hosts: host names the server answers to besides the loopback names and --host (give the name
            people type, e.g. studio.example.org; '*' answers any name, only behind a proxy that checks it).
        tokens: a file of users, one 'TOKEN NAME' a line: every /api call must send one of the tokens, and each
            user sees, downloads, cancels and deletes only their own jobs.
    """

    allowed_hosts: tuple[str, ...] = ()
    tokens: Optional[Path] = None


def read_tokens_file(path: Path) -> dict[str, str]:
    """The users of a tokens file, token → name: one ``TOKEN NAME`` a line, ``#`` starts a comment.

    Raises:
        PainterlyError: the file cannot be read, a line has no name, a token is short or given twice,
            or there is no user at all.
    """
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not a UTF-8 text file"
        raise PainterlyError(f"cannot read the tokens file {path}: {reason}") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise PainterlyError(f"{path} line {number}: write 'TOKEN NAME', a token then the user's name")
        token, name = parts[0], parts[1].strip()
        if len(token) < MIN_TOKEN_CHARS:
            raise PainterlyError(f"{path} line {number}: the token is shorter than {MIN_TOKEN_CHARS} characters: "
                                 "use a long random one (python -c 'import secrets; print(secrets.token_urlsafe())')")
        if token in users:
            raise PainterlyError(f"{path} line {number}: this token is given twice: every user needs their own")
        users[token] = name
    if not users:
        raise PainterlyError(f"the tokens file {path} has no users: add a line 'TOKEN NAME' for each")
    return users


@dataclass
class RetentionConfig:
    """How long finished jobs are kept, and how much disk they may take.

    Attributes:
        keep_days: remove finished jobs (succeeded, failed or cancelled) and their files this many days after
            they ended; unset keeps them until they are deleted.
        max_disk_mb: most MiB the jobs' files in the data dir may take (the job database aside): past it, the oldest finished jobs are removed with their
            files, and when that is not enough new jobs are refused (507) until jobs end or are deleted;
            unset: no quota.
        sweep_every_s: seconds between two sweeps for expired jobs and the quota.
    """

    keep_days: Optional[float] = None
    max_disk_mb: Optional[float] = None
    sweep_every_s: float = 3600.0

    def __post_init__(self):
        if self.keep_days is not None and not self.keep_days > 0:
            raise PainterlyError(f"--keep-days must be more than 0, not {self.keep_days:g}")
        if self.max_disk_mb is not None and not self.max_disk_mb > 0:
            raise PainterlyError(f"--max-disk-mb must be more than 0, not {self.max_disk_mb:g}")

    @property
    def max_disk_bytes(self) -> Optional[int]:
        return None if self.max_disk_mb is None else int(self.max_disk_mb * 1024 * 1024)

    @property
    def sweeps(self) -> bool:
        """Whether the server needs a sweep thread (an expiry or a quota is set)."""
        return self.keep_days is not None or self.max_disk_mb is not None
