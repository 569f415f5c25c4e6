"""Importing a slow module in the background while the caller loads weights and images."""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401 - see import_in_background
import importlib
import threading


def _import_quietly(name: str) -> None:
    try:
        importlib.import_module(name)
    except Exception:  # the code that needs the module imports it again and reports the error there
        pass


def import_in_background(name: str) -> threading.Thread:
    """Start importing the module ``name`` in a thread, so that a later ``import name`` finds it done.

    The thread is not a daemon: the interpreter waits for it before it shuts down, so the import
    never runs into the interpreter's teardown. Start it only where the module will be needed,
    since an early exit waits for the import to finish.

    ``concurrent.futures.thread`` (which torch imports) registers an exit hook when it is first
    imported, and that fails once the main thread has ended ("can't register atexit after
    shutdown"), so it is imported here, in the caller's thread, before the background import starts.

    Example:
        >>> import_in_background("torch._dynamo")   # doctest: +SKIP
    """
    thread = threading.Thread(target=_import_quietly, args=(name,), name=f"import {name}", daemon=False)
    thread.start()
    return thread


__all__ = ["import_in_background"]
