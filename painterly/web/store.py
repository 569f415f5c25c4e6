"""The studio's job store: the jobs table of :class:`painterly.web.jobs.JobStore`, plus who owns each job,
which finished jobs have expired, and a clean stop counted as an interruption.

Owners are kept in a table of their own, ``job_owners`` (job id → user name), beside ``jobs`` in the same
database; a job without a row there was made without a tokens file and belongs to no user.
"""

from __future__ import annotations

from typing import Optional

from painterly.web.jobs import FINISHED, IMAGE, RUNNING, Job, JobOptions, JobStore

_OWNERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_owners (
    job_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_owners_owner ON job_owners (owner);
"""


class StudioStore(JobStore):
    """A :class:`JobStore` whose jobs may belong to users; the same database file, one connection."""

    def __init__(self, path):
        super().__init__(path)
        with self._lock:
            self._connection.executescript(_OWNERS_SCHEMA)

    # -- owners ----------------------------------------------------------------------------------
    def create(self, options: JobOptions, content_file: str, style_name: str | None, style_file: str | None,
               client: str = "", *, kind: str = IMAGE, owner: Optional[str] = None) -> Job:
        job = super().create(options, content_file, style_name, style_file, client, kind=kind)
        if owner is not None:
            with self._lock:
                self._connection.execute("INSERT INTO job_owners (job_id, owner) VALUES (?, ?)", (job.id, owner))
        return job

    def owner(self, job_id: str) -> Optional[str]:
        with self._lock:
            row = self._connection.execute("SELECT owner FROM job_owners WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else row["owner"]

    @staticmethod
    def _owned_where(owner: str, status: str | None, kind: str | None) -> tuple[str, list]:
        conditions, parameters = ["job_owners.owner = ?"], [owner]
        for column, value in (("status", status), ("kind", kind)):
            if value:
                conditions.append(f"jobs.{column} = ?")
                parameters.append(value)
        return (" JOIN job_owners ON job_owners.job_id = jobs.id WHERE " + " AND ".join(conditions)), parameters

    def list_owned(self, owner: str, *, limit: int = 50, offset: int = 0, status: str | None = None,
                   kind: str | None = None) -> list[Job]:
        """The jobs of ``owner``, newest first, optionally only those with ``status`` and of ``kind``."""
        where, parameters = self._owned_where(owner, status, kind)
        with self._lock:
            rows = self._connection.execute(f"SELECT jobs.* FROM jobs{where} ORDER BY jobs.seq DESC LIMIT ? OFFSET ?",
                                            [*parameters, limit, offset]).fetchall()
        return [self._row_to_job(row) for row in rows]

    def count_owned(self, owner: str, status: str | None = None, kind: str | None = None) -> int:
        where, parameters = self._owned_where(owner, status, kind)
        with self._lock:
            return self._connection.execute(f"SELECT COUNT(*) FROM jobs{where}", parameters).fetchone()[0]

    def delete(self, job_id: str) -> bool:
        deleted = super().delete(job_id)
        if deleted:
            with self._lock:
                self._connection.execute("DELETE FROM job_owners WHERE job_id = ?", (job_id,))
        return deleted

    # -- retention -------------------------------------------------------------------------------
    def finished_before(self, timestamp: float) -> list[Job]:
        """Finished jobs that ended before ``timestamp`` (seconds since the epoch), oldest first."""
        placeholders = ", ".join("?" for _ in FINISHED)
        with self._lock:
            rows = self._connection.execute(
                f"SELECT * FROM jobs WHERE status IN ({placeholders}) AND finished_at < ? ORDER BY seq",
                (*FINISHED, timestamp)).fetchall()
        return [self._row_to_job(row) for row in rows]

    # -- stops -----------------------------------------------------------------------------------
    def requeue(self, job_id: str) -> bool:
        """A job stopped by a clean shutdown stays ``running``: :meth:`recover_interrupted`, which the studio
        runs when it stops and when it starts, then counts it like a job a crash left running, so a job
        the server stops twice fails either way."""
        job = self.get(job_id)
        return job is not None and job.status == RUNNING
