"""Run a test's worker function on two local processes (gloo), with a deadline instead of a possible hang."""

from __future__ import annotations

import socket
import time
from typing import Any, Callable

import pytest
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_on_two_processes(worker: Callable[..., None], *args: Any, deadline_s: float = 240.0) -> None:
    """Call ``worker(rank, 2, port, *args)`` for ranks 0 and 1; fail the test if they outlive ``deadline_s``.

    The processes are spawned, not forked: a fork copies whatever locks the test process's other
    threads (thread pools of earlier tests) held at that moment, and a child can wait on one forever.
    ``worker`` must be a module-level function and ``args`` picklable.
    """
    context = mp.start_processes(worker, args=(2, free_port(), *args), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + deadline_s
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the two training processes did not finish within {deadline_s:.0f} s")
