"""Turn SIGINT/SIGTERM into an exception for the length of a critical section, then end as the signal would.

:class:`SignalGuard` is what :func:`egru_format.atomic_write` uses to remove its temporary
file when it is interrupted, and what ``lava_egru`` uses to stop its runtime before a
signal ends the process. Only signals whose handling is the default one are guarded (an
application's own handlers are left alone), only in the main thread. A guard raises
:class:`Interrupted` once and then only records (a SIGTERM replaces a recorded SIGINT), so
the clean-up that follows is not interrupted; ``guard.active = False`` turns raising off
beforehand, and :meth:`SignalGuard.redeliver` ends as the signal would have: SIGINT as
``KeyboardInterrupt``, SIGTERM by its default action (the process ends with -15).

Example::

    >>> import os, signal
    >>> from egru_format.signals import Interrupted, SignalGuard
    >>> with SignalGuard() as guard:
    ...     try:
    ...         os.kill(os.getpid(), signal.SIGINT)
    ...     except Interrupted as exc:
    ...         caught = exc.signum
    >>> caught == signal.SIGINT, guard.pending == signal.SIGINT
    (True, True)
"""

from __future__ import annotations

import signal
import threading

#: The signals a guard turns into :class:`Interrupted` (those this platform has).
GUARDED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

__all__ = ["GUARDED_SIGNALS", "Interrupted", "SignalGuard"]


class Interrupted(BaseException):
    """Raised by the temporary handler of a guarded signal during a write (a BaseException, so that ``except Exception`` code does not swallow it)."""

    def __init__(self, signum: int, guard: "SignalGuard"):
        super().__init__(signum)
        self.signum = signum
        self.guard = guard


class SignalGuard:
    """While a write runs in the main thread: SIGINT/SIGTERM with their default handling raise
    :class:`Interrupted` (and are recorded, in case a library swallows the exception, as h5py
    can in a finaliser); afterwards the previous handlers are back and the signal is delivered again.

    Signals with a handler of the application's own (or ignored) are left alone.
    """

    def __init__(self):
        self.pending = None
        self.active = False
        self.previous = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in GUARDED_SIGNALS:
            current = signal.getsignal(signum)
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if current is default:
                self.previous[signum] = current
                signal.signal(signum, self._handle)
        self.active = True
        return self

    def _handle(self, signum, frame):
        if self.pending is None or signum == getattr(signal, "SIGTERM", None):
            self.pending = signum  # the first one; a SIGTERM wins over a SIGINT
        if self.active:
            self.active = False    # raised once: the clean-up that follows is not interrupted
            raise Interrupted(signum, self)

    def check(self) -> None:
        """Raise the recorded signal now (it arrived, but its exception did not come through)."""
        if self.pending is not None:
            raise Interrupted(self.pending, self)

    def __exit__(self, *exc_info):
        self.active = False
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}
        return False

    def redeliver(self) -> None:
        """End as the recorded signal would have without the guard (its previous handler is back)."""
        signum, self.pending = self.pending, None
        if signum is None:
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.raise_signal(signum)        # default action: the process ends with the signal
        raise SystemExit(128 + signum)     # pragma: no cover - only if the default did not end it
