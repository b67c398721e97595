"""A forked copy of this process that runs jobs while this process goes on.

The offline plan does two things twice: it runs the program once with every value known and once
as a preview of a new stack (scripts/plan/runner.py), and the policy stage runs the pack once on
each of the two views (scripts/plan/policy_stage.py). Neither of a pair needs the other, so where
the machine has a second CPU the plan forks a worker before the first run and hands it the
preview's half of each pair: the plan then takes about the time of one run and one pack pass.

A job is a module-level function and its arguments, pickled to the worker through a pipe; the
result (or the exception's class name and message) comes back pickled through another, in the
order the jobs were given. The worker is forked before anything else runs, because a fork copies
only the calling thread: `available()` is true only while this process has a single thread (the
SDK starts executor threads in the first run), on Linux, with at least two CPUs available to the
process. Anywhere else the caller runs the same functions itself, with the same result
(tests/scripts/test_plan_background.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

_LENGTH = struct.Struct("!Q")


class ChildFailed(Exception):
    """The job raised in the worker; the message is its exception's `str`, and `kind` the
    exception's class name (the class itself may not survive a pickle)."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class ChildLost(Exception):
    """The worker ended without an answer (killed, out of memory): the caller should run the job
    itself."""


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available() -> bool:
    """Whether a worker can be forked now (see the module docstring)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and threading.active_count() == 1
        and usable_cpus() >= 2
    )


class Worker:
    """A forked child running the jobs it is given, one at a time, in order."""

    def __init__(self) -> None:
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()  # nothing buffered before the fork is written twice
        pid = os.fork()
        if pid == 0:
            os.close(jobs_write)
            os.close(results_read)
            _serve(jobs_read, results_write)  # never returns
        os.close(jobs_read)
        os.close(results_write)
        self.pid = pid
        self._jobs: IO[bytes] | None = os.fdopen(jobs_write, "wb")
        self._results: IO[bytes] | None = os.fdopen(results_read, "rb")
        self._pending = 0
        self.exit_status: int | None = None
        """The worker's wait status once it is reaped (`os.waitpid`)."""

    @property
    def running(self) -> bool:
        """Whether the worker takes jobs (false once closed, cancelled or lost)."""
        return self._jobs is not None

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Hand the worker `function(*args)`; `result()` gives its answers in this order."""
        if self._jobs is None:
            raise RuntimeError("the worker is closed")
        _write_frame(self._jobs, pickle.dumps((function, args)))
        self._pending += 1

    def result(self) -> Any:
        """The answer to the oldest job not yet read: its return value; ChildFailed when it
        raised, ChildLost when the worker ended without an answer."""
        if self._results is None or self._pending == 0:
            raise RuntimeError("no job is waiting for its result")
        self._pending -= 1
        frame = _read_frame(self._results)
        if frame is None:
            self.close()
            raise ChildLost("the worker process ended without a result")
        kind, value = pickle.loads(frame)
        if kind == "ok":
            return value
        raise ChildFailed(*value)

    def close(self) -> None:
        """Let the worker finish its jobs and leave, and reap it."""
        if self._jobs is None:
            return
        for stream in (self._jobs, self._results):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._jobs = self._results = None
        self.exit_status = os.waitpid(self.pid, 0)[1]

    def cancel(self) -> None:
        """Stop the worker now (the caller's own work failed) and reap it."""
        if self._jobs is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.cancel()


def _write_frame(stream: IO[bytes], data: bytes) -> None:
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    return data if len(data) == length else None


def _serve(jobs_fd: int, results_fd: int) -> None:
    """The worker: run each job read from `jobs_fd`, answer on `results_fd`, leave at EOF."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
        # The parent's event loop (if any) shares its selector with the parent: use a fresh one.
        asyncio.set_event_loop(asyncio.new_event_loop())
        with os.fdopen(jobs_fd, "rb") as jobs, os.fdopen(results_fd, "wb") as results:
            while (frame := _read_frame(jobs)) is not None:
                try:
                    function, args = pickle.loads(frame)
                    payload: tuple[str, Any] = ("ok", function(*args))
                    data = pickle.dumps(payload)
                except BaseException as exc:  # every failure goes back to the parent
                    data = pickle.dumps(("error", (type(exc).__name__, str(exc))))
                _write_frame(results, data)
    except BaseException:
        status = 1
    finally:
        os._exit(status)
