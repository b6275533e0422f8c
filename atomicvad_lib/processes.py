"""Stopping a command together with every process it started.

``atomicvad course`` and ``atomicvad sweep`` start process-pool workers, each worker starts a
Jupyter kernel through papermill, and a kernel may start processes of its own. Signals reach only
the process they are sent to (``kill PID``), or the terminal's foreground process group (Ctrl-C),
whose members then stop in no particular order: killing the command alone left its workers and
kernels training on. Here the command itself takes charge:

- :func:`interrupt_on_signals` turns SIGTERM into :class:`Interrupted` (a ``KeyboardInterrupt``,
  as SIGINT already is) in the main thread, so both unwind the command the same way;
- :func:`stop_children` stops every descendant of this process: SIGTERM to all of them at once,
  SIGKILL to those still alive after a grace period, again until none is left (a pool worker may
  start a new kernel while the others stop).

A kernel stopped mid-epoch loses only that epoch: ``train_fold`` commits each finished epoch
atomically, and running the command again resumes the fold.
"""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager

import psutil

GRACE_SECONDS = 5.0  # how long stopped processes get to exit before SIGKILL


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal; ``signum`` says which (SIGINT for Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(f"signal {signal.Signals(signum).name}")
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_received: list[int] = []  # signals the handlers of this process raised (raise_if_signalled)


def remember_signal(signum: int) -> None:
    """For a signal handler about to raise: lets :func:`raise_if_signalled` raise it again."""
    _received.append(int(signum))


def raise_if_signalled() -> None:
    """Raise :class:`Interrupted` again for a signal this process took. A handler that runs while
    Python executes a finalizer or weakref callback has its exception printed and dropped
    ("Exception ignored in ..."), so long loops call this to stop all the same."""
    if _received:
        raise Interrupted(_received[-1])


def _raise_interrupted(signum, frame):
    remember_signal(signum)
    raise Interrupted(signum)


@contextmanager
def interrupt_on_signals(signals=(signal.SIGTERM,)):
    """Within the block, ``signals`` (SIGTERM by default; SIGINT raises KeyboardInterrupt
    anyway) raise :class:`Interrupted` in the main thread. Outside the main thread (where Python
    cannot set handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def ignore_sigint() -> None:
    """For pool workers (``initializer=``): Ctrl-C is the parent's to handle. The terminal sends
    SIGINT to the whole process group; a worker that took it as KeyboardInterrupt would give up
    its notebook and take the next one while the parent is stopping it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def descendants(pid: int | None = None) -> list[psutil.Process]:
    """The living descendants of ``pid`` (default: this process), children before grandchildren."""
    try:
        return psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _is_resource_tracker(process: psutil.Process) -> bool:
    try:
        return "multiprocessing.resource_tracker" in " ".join(process.cmdline())
    except psutil.Error:
        return False


def stop_children(grace: float = GRACE_SECONDS, rounds: int = 5) -> int:
    """Stop every descendant of this process; returns how many were stopped.

    All are found before any is signalled (a kernel whose worker is gone is no longer this
    process' descendant), sent SIGTERM together, and those still alive after ``grace`` seconds
    are sent SIGKILL. Repeated, up to ``rounds`` times, while new descendants appear.
    multiprocessing's resource tracker is left alone: it ignores SIGTERM by design and exits
    by itself when this process does.
    """
    stopped = 0
    for _ in range(rounds):
        found = [p for p in descendants() if not _is_resource_tracker(p)]
        if not found:
            break
        for process in found:
            try:
                process.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(found, timeout=grace)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=grace)
        stopped += len(found)
    return stopped
