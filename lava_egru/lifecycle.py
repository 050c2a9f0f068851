r"""The lifetime of Lava's worker processes: signals, a dead parent, a failing worker.

Lava (lava-nc 0.10.0) runs every ProcessModel and every runtime service in a forked OS
process. Left alone, three things go wrong (issue 12):

1. Ctrl-C in a terminal sends SIGINT to the whole process group: every worker dies with a
   ``KeyboardInterrupt`` traceback, and the parent then waits forever for an answer to its
   STOP from a runtime service that is gone.
2. SIGTERM or SIGKILL of the parent leaves the workers running (nothing tells them).
3. A ProcessModel that raises before it sends (Lava's own ``Dense`` does) or a worker that
   dies (``os._exit``, a signal, the OOM killer) leaves its peers blocked in ``recv``: the
   parent waits forever for a reply that never comes.

This module fixes the three for the runtimes that :func:`lava_egru.simulate` starts:

- **Every worker**, before it runs, ignores SIGINT (Ctrl-C is the parent's business),
  takes the default SIGTERM, and asks the kernel to SIGKILL it when the parent dies
  (``prctl(PR_SET_PDEATHSIG)``, Linux); a worker whose parent is already gone exits. The
  hook is an ``os.register_at_fork`` child hook, active only in the thread inside
  :func:`forking_workers`: it reaches Lava's models, its runtime services and the
  shared-memory manager, and nothing else the application forks. SIGINT and SIGTERM are
  blocked around each ``fork``, so no signal lands between ``fork`` and the hook.
- **The parent never blocks without a bound**: :func:`run_steps` starts a non-blocking run
  and waits on the runtime services' replies *and* on every worker's process sentinel, so a
  worker that exits ends the wait (:class:`WorkerFailed`, naming the process, its model,
  its pid and how it ended); a Ctrl-C lands in that wait as ``KeyboardInterrupt``.
- **Teardown is bounded** (:func:`teardown`): STOP and the TERMINATED handshake when every
  worker is alive, within ``STOP_TIMEOUT_SECONDS``; then SIGTERM and SIGKILL for whatever
  is left; the ports joined, the shared-memory manager shut down (it unlinks the
  segments), and the runtime marked stopped so that Lava's ``Runtime.__del__`` does not
  wait again.

The PDEATHSIG fires when the *thread* that forked the workers ends: start and stop a
runtime in the same thread (``simulate`` does).

**Compiled again for each run** (:func:`recompilable`): Lava compiles a Process once
(``ProcessAlreadyCompiled`` afterwards) and a stopped runtime cannot start again. For
the length of one run, :func:`recompilable` records what compilation changes on the
Processes a caller keeps (the connections of their ports, which the SubProcessModels
extend to the children they build, their Vars' aliases, their registered
sub-Processes, the compiled flag and the runtime) and puts it back afterwards, on
every exit path: the next run compiles them again, on a runtime of its own, from their
Vars' initial values. What the compilation built (the children, the runtime) is
dropped.

Example (what ``simulate`` does; its tests interrupt and kill it)::

    >>> import numpy as np
    >>> from lava.magma.core.run_configs import Loihi2SimCfg
    >>> from lava.proc.io.source import RingBuffer
    >>> from lava.proc.io.sink import RingBuffer as Sink
    >>> from lava_egru.lifecycle import run_steps, teardown
    >>> source, sink = RingBuffer(data=np.arange(6.0).reshape(1, 6)), Sink(shape=(1,), buffer=6)
    >>> source.s_out.connect(sink.a_in)
    >>> try:
    ...     run_steps(source, 6, Loihi2SimCfg())
    ...     received = sink.data.get()
    ... finally:
    ...     failures = teardown(source, graceful=True)
    >>> received.ravel().tolist(), failures
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], '')
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
import typing as ty
from multiprocessing import connection

from lava.magma.compiler.builders.py_builder import PyProcessBuilder
from lava.magma.core.run_conditions import RunSteps
from lava.magma.runtime.mgmt_token_enums import MGMT_COMMAND, MGMT_RESPONSE, enum_equal

__all__ = ["WorkerFailed", "forking_workers", "run_steps", "teardown", "recompilable", "worker_pids",
           "FAILURE_PREFIX", "STOP_TIMEOUT_SECONDS"]

#: The first line of every error about a failed worker.
FAILURE_PREFIX = "a Lava ProcessModel failed during the run:"
#: How long a graceful STOP may take before the workers are terminated, then killed.
STOP_TIMEOUT_SECONDS = 3.0
#: How long a failed run waits for the failing worker's traceback before it names what it has.
SETTLE_SECONDS = 2.0
#: Longest sleep between two looks at the runtime services' replies.
POLL_SECONDS = 0.02
#: ``prctl`` option: the signal this process gets when its parent (thread) dies.
PR_SET_PDEATHSIG = 1
#: The signals blocked in the forking thread while workers are forked.
FORK_BLOCKED_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class WorkerFailed(RuntimeError):
    """A Lava worker raised, exited or was killed during a run (the message names it)."""


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:  # pragma: no cover - a Linux without a loadable libc
        return None


_LIBC = _libc()


#: Per thread: while :func:`forking_workers` is active, the pid of the parent (else absent/None)
#: and, between ``fork``'s "before" and "after" hooks, the signal mask to restore.
_FORKING = threading.local()


def _block_before_fork() -> None:
    if getattr(_FORKING, "parent_pid", None) is not None:
        _FORKING.mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED_SIGNALS)


def _restore_after_fork_in_parent() -> None:
    mask = getattr(_FORKING, "mask", None)
    if mask is not None:
        _FORKING.mask = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _prepare_worker() -> None:
    """In the child of every fork by a thread inside :func:`forking_workers`, right after ``fork``
    (SIGINT and SIGTERM still blocked, as the parent's "before" hook left them)."""
    parent, mask = getattr(_FORKING, "parent_pid", None), getattr(_FORKING, "mask", None)
    if parent is None:
        return
    _FORKING.parent_pid = _FORKING.mask = None  # the worker's own forks are not ours
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's business
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's Python handler
    except ValueError:  # pragma: no cover - not the child's main thread: keep both blocked
        return
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the death signal was set
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_block_before_fork, after_in_parent=_restore_after_fork_in_parent,
                        after_in_child=_prepare_worker)


@contextlib.contextmanager
def forking_workers():
    """While this is active, every process this thread forks becomes a well-behaved worker
    (module docstring): SIGINT ignored, SIGTERM default, killed when the parent dies. SIGINT
    and SIGTERM are blocked around each ``fork`` only, so nothing lands between the fork and
    the child's set-up."""
    _FORKING.parent_pid = os.getpid()
    try:
        yield
    finally:
        _FORKING.parent_pid = None


def _actors(runtime) -> list:
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    return list(getattr(infrastructure, "actors", None) or [])


def worker_pids(process) -> ty.List[int]:
    """The OS pids of the workers of ``process``'s runtime (empty before it started)."""
    runtime = getattr(process, "runtime", None)
    return [actor.pid for actor in _actors(runtime) if actor.pid is not None] if runtime is not None else []


def _names(runtime) -> list:
    """A name per actor, in the order Lava started them: the models, then the runtime services."""
    executable = getattr(runtime, "_executable", None)
    builders = [] if executable is None else [
        (proc, builder) for proc, builder in executable.proc_builders.items() if isinstance(builder, PyProcessBuilder)]
    names = [f"{proc.name} ({builder.proc_model.__name__})" for proc, builder in builders]
    return names + ["the Lava runtime service"] * max(0, len(_actors(runtime)) - len(names))


def _how_it_ended(actor) -> ty.Optional[str]:
    """The traceback a worker reported, or how it exited; None while it runs without a report."""
    try:
        reported = actor.exception
    except (OSError, ValueError):  # its pipe is closed already
        reported = None
    except Exception as exc:  # noqa: BLE001 - the worker's exception cannot be unpickled here
        return f"raised an exception that could not be read back ({type(exc).__name__}: {exc})"
    if reported:
        return reported[1].rstrip()
    code = actor.exitcode
    if code is None or code == 0:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def describe_failures(runtime, settle: float = 0.0) -> str:
    """One entry per failed worker (name, pid, traceback or exit), waiting up to ``settle``
    seconds for a first one; "" when none failed."""
    actors, names = _actors(runtime), _names(runtime)
    deadline = time.monotonic() + settle
    while True:
        ended = [(name, actor, _how_it_ended(actor)) for name, actor in zip(names, actors)]
        failed = [(name, actor, how) for name, actor, how in ended if how is not None]
        if failed or time.monotonic() >= deadline:
            break
        alive = [actor.sentinel for actor in actors if actor.exitcode is None]
        connection.wait(alive, timeout=min(POLL_SECONDS * 5, max(0.0, deadline - time.monotonic())))
    return "\n".join(f"{name}, pid {actor.pid}: {how}" for name, actor, how in failed)


def run_steps(process, num_steps: int, run_cfg, guard=None) -> None:
    """Run ``process``'s network for ``num_steps`` steps, like ``process.run(RunSteps(n), run_cfg)``,
    but starting the workers under :func:`forking_workers` and never waiting without a bound.

    ``guard``: an active :class:`egru_format.signals.SignalGuard`, made record-only while the
    workers start (an interrupt half-way through Lava's ``initialize`` would leave workers
    that nothing knows of); a signal that came meanwhile is raised right afterwards.

    Raises:
        WorkerFailed: a worker reported an error, exited or was killed (the message names it).
        KeyboardInterrupt: Ctrl-C during the run (the runtime is left for :func:`teardown`).
    """
    if process.runtime is None:
        executable = process.compile(run_cfg)  # interruptible: no worker exists yet
        was_active = guard is not None and guard.active
        if was_active:
            guard.active = False
        try:
            with forking_workers():
                process.create_runtime(executable=executable)
        finally:
            if was_active:
                guard.active = True
        if guard is not None:
            guard.check()
    runtime = process.runtime
    runtime.start(RunSteps(num_steps=num_steps, blocking=False))
    services, actors = list(runtime.service_to_runtime), _actors(runtime)
    while not all(port.probe() for port in services):
        if any(actor.exitcode is not None for actor in actors):
            raise WorkerFailed(f"{FAILURE_PREFIX}\n{describe_failures(runtime, SETTLE_SECONDS)}")
        connection.wait([actor.sentinel for actor in actors], timeout=POLL_SECONDS)
    if not all(enum_equal(port.peek(), MGMT_RESPONSE.DONE) for port in services):
        raise WorkerFailed(f"{FAILURE_PREFIX}\n{describe_failures(runtime, SETTLE_SECONDS)}")
    runtime.wait()  # consumes the DONE replies


def _stop_handshake(runtime, deadline: float) -> bool:
    """STOP to every runtime service and their TERMINATED, until ``deadline``; True when all answered."""
    to_services, from_services = list(runtime.runtime_to_service), list(runtime.service_to_runtime)
    for port in to_services:
        while not port.probe():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        port.send(MGMT_COMMAND.STOP)
    for port in from_services:
        while True:
            while not port.probe():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(POLL_SECONDS)
            reply = port.recv()
            if enum_equal(reply, MGMT_RESPONSE.TERMINATED):
                break
            if enum_equal(reply, MGMT_RESPONSE.ERROR):
                return False
            # a DONE of an interrupted run, or a request: not the answer to STOP
    return True


def teardown(process, graceful: bool = True, timeout: float = STOP_TIMEOUT_SECONDS) -> str:
    """Stop ``process``'s runtime within about ``timeout`` seconds, whatever state it is in;
    return :func:`describe_failures` of its workers ("" when none failed).

    ``graceful``: try Lava's STOP handshake first (when every worker is alive). Afterwards no
    worker is left, the shared-memory segments are unlinked and the runtime is marked
    stopped. Safe to call on a process whose runtime never started (it does nothing).
    """
    runtime = getattr(process, "runtime", None)
    if runtime is None:
        return ""
    actors = _actors(runtime)
    deadline = time.monotonic() + timeout
    if (graceful and runtime._is_started and actors and all(a.exitcode is None for a in actors)
            and getattr(runtime, "service_to_runtime", None)):
        if _stop_handshake(runtime, deadline):
            connection.wait([a.sentinel for a in actors if a.exitcode is None],
                            timeout=max(0.0, deadline - time.monotonic()))
    failures = describe_failures(runtime)
    for end in ("terminate", "kill"):
        for actor in actors:
            if actor.exitcode is None:
                getattr(actor, end)()
        connection.wait([a.sentinel for a in actors if a.exitcode is None], timeout=1.0)
    runtime.join()  # the parent's ports: their threads end
    runtime._is_started = runtime._is_running = False  # Runtime.__del__ must not send STOP again
    infrastructure = getattr(runtime, "_messaging_infrastructure", None)
    if infrastructure is not None and getattr(infrastructure, "smm", None) is not None:
        try:
            infrastructure.stop()  # joins the (ended) workers; the manager unlinks the shared memory
        except AttributeError:  # pragma: no cover - a manager that never finished starting
            pass
    if getattr(runtime, "_watchdog_manager", None) is not None:
        runtime._watchdog_manager.stop()
    return failures


def _ports(process) -> list:
    return [port for collection in (process.in_ports, process.out_ports, process.ref_ports, process.var_ports)
            for port in collection.members]


@contextlib.contextmanager
def recompilable(processes: ty.Sequence):
    """Let ``processes`` be compiled and run inside this block, and compiled again afterwards.

    On exit (return, exception, interrupt) every Process in ``processes`` has again the
    port connections, Var aliases, registered sub-Processes, compiled flag and runtime it
    had on entry (module docstring): an uncompiled Process can be compiled again. Pass
    the Processes that outlive the run, hierarchical ones with their sub-Processes (e.g.
    a network and its blocks); stop the runtime (:func:`teardown`) before the block ends.

    Example (the same two Processes compiled and run twice)::

        >>> import numpy as np
        >>> from lava.magma.core.run_configs import Loihi2SimCfg
        >>> from lava.proc.io.sink import RingBuffer as Sink
        >>> from lava.proc.io.source import RingBuffer
        >>> source, sink = RingBuffer(data=np.arange(3.0).reshape(1, 3)), Sink(shape=(1,), buffer=3)
        >>> source.s_out.connect(sink.a_in)
        >>> received = []
        >>> for _ in range(2):
        ...     with recompilable([source, sink]):
        ...         try:
        ...             run_steps(source, 3, Loihi2SimCfg())
        ...             received.append(sink.data.get().ravel().tolist())
        ...         finally:
        ...             _ = teardown(source)
        >>> received, source.is_compiled, source.runtime is None
        ([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], False, True)
    """
    saved = []
    for process in processes:
        ports = [(port, list(port.in_connections), list(port.out_connections), dict(port.connection_configs))
                 for port in _ports(process)]
        aliases = [(var, var.aliased_var) for var in process.vars.members]
        flags = (process.parent_proc, process.is_compiled, process.model_class, process.runtime)
        saved.append((process, ports, aliases, dict(process.procs._members), flags))
    try:
        yield
    finally:
        for process, ports, aliases, procs, flags in saved:
            for port, in_connections, out_connections, configs in ports:
                port.in_connections, port.out_connections = in_connections, out_connections
                port.connection_configs = configs
            for var, aliased in aliases:
                var.aliased_var = aliased
            collection = process.procs
            for name in set(collection._members) - set(procs):
                collection.__dict__.pop(name, None)
            collection._members.clear()
            collection.add_members(procs)
            process.parent_proc, process._is_compiled, process._model_class, process.runtime = flags
