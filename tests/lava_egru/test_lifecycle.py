"""Lava's worker processes under signals and failures (issue 12, items 1-3).

Each case runs a long ``simulate`` (or ``egru lava``) in a child interpreter of its own
session, waits until Lava's workers run, then interrupts, terminates or kills it (or a
worker fails by fault injection), and checks: a bounded end, the documented outcome
(``KeyboardInterrupt`` / exit code 130 / -15 / a RuntimeError naming the worker), no
traceback for Ctrl-C, no worker left, no shared-memory segment left, and a second
``simulate`` in the same interpreter that works.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, sigint_default_in_child

pytestmark = pytest.mark.lava

#: Steps of the long run: far more than a test waits for (Lava runs a few thousand steps a second).
LONG_STEPS = 400_000
#: Bound on every wait of these tests (the machine may be busy).
WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def network_file(tmp_path_factory):
    from egru_format import write_network
    from tests.numpy_reference import random_vector_network

    path = tmp_path_factory.mktemp("lifecycle") / "net.h5"
    write_network(random_vector_network(0, 3, [5]), path)
    return path


def children_of(pid: int) -> list:
    """Pids of the live (not zombie) child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[1] == str(pid) and stat[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pids) -> list:
    out = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append(pid)
    return out


def wait_until(condition, seconds: float = WAIT_SECONDS, step: float = 0.1):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def shm_segments() -> set:
    return {p.name for p in Path("/dev/shm").glob("psm_*")} if Path("/dev/shm").is_dir() else set()


CHILD_HEADER = """
import os, signal, sys, time
from pathlib import Path
import numpy as np
from lava_egru import EGRUNetwork, simulate

net = EGRUNetwork({path!r})
x = np.random.default_rng(0).standard_normal(({steps}, 3))

def children():
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if stat[1] == me and stat[0] != "Z" and b"resource_tracker" not in cmd:
                found.append(entry.name)
    return found

def no_children(seconds=10.0):
    end = time.monotonic() + seconds
    while children() and time.monotonic() < end:
        time.sleep(0.05)
    return not children()

reference = simulate(net, x[:20])

# the long run announces itself from inside a worker, 50 steps in (the short runs stop before)
from lava.proc.dense.models import PyDenseModelFloat
_original_run_spk = PyDenseModelFloat.run_spk
def _announcing_run_spk(self):
    if self.time_step == 50:
        Path({marker!r}).write_text("running")
    _original_run_spk(self)
PyDenseModelFloat.run_spk = _announcing_run_spk
"""

SECOND_RUN = """
assert no_children(), ("workers left", children())
again = simulate(net, x[:20])
assert np.array_equal(again, reference), "the second simulate differs"
print("SECOND RUN OK", flush=True)
"""


def start_child(code: str, network_file, steps: int = LONG_STEPS, marker=None):
    marker = marker or network_file.parent / f"running-{time.monotonic_ns()}"
    script = CHILD_HEADER.format(path=str(network_file), steps=steps, marker=str(marker)) + code
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")]))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True, cwd=REPO_ROOT,
                             preexec_fn=sigint_default_in_child)
    child.marker = marker
    return child


def running_workers(child, marker=None) -> list:
    """The child's processes once a worker of its long run has written ``marker``."""
    marker = marker or child.marker
    if not wait_until(lambda: Path(marker).exists() or child.poll() is not None):
        child.kill()
    if not Path(marker).exists():
        out, err = child.communicate(timeout=WAIT_SECONDS)
        pytest.fail(f"the long run never started:\n{out}\n{err}")
    return children_of(child.pid)


def finish(child, seconds: float = WAIT_SECONDS):
    try:
        out, err = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        pytest.fail(f"the child hung (killed after {seconds:.0f} s):\n{out}\n{err}")
    return child.returncode, out, err


LONG_RUN_API = """
print("LONG RUN", flush=True)
try:
    simulate(net, x)
except KeyboardInterrupt:
    print("KEYBOARD INTERRUPT AT", time.time(), flush=True)
else:
    print("FINISHED UNEXPECTEDLY", flush=True)
""" + SECOND_RUN


def wait_for_long_run(child) -> list:
    """Workers of the long run (the reference run's workers have ended by then)."""
    return running_workers(child)


def interrupt_delay(out: str, sent: float) -> float:
    """Seconds from the signal to the child's ``except KeyboardInterrupt``."""
    return float(out.split("KEYBOARD INTERRUPT AT")[1].split()[0]) - sent


@pytest.mark.parametrize("target", ["process group", "parent only"])
def test_ctrl_c_in_the_api(network_file, target):
    before = shm_segments()
    child = start_child(LONG_RUN_API, network_file)
    workers = wait_for_long_run(child)
    sent = time.time()
    if target == "process group":
        os.killpg(child.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    else:
        child.send_signal(signal.SIGINT)
    code, out, err = finish(child)
    assert code == 0, err
    assert "KEYBOARD INTERRUPT AT" in out and "SECOND RUN OK" in out, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert interrupt_delay(out, sent) < 10
    assert wait_until(lambda: not alive(workers), 10), alive(workers)
    assert shm_segments() <= before


def test_ctrl_c_to_the_process_group_at_the_command_line(network_file, tmp_path):
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.random.default_rng(0).standard_normal((LONG_STEPS, 3)))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    child = subprocess.Popen([sys.executable, "-m", "egru", "lava", str(network_file), "--input", str(inputs),
                              "--output", str(tmp_path / "y.npy")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, start_new_session=True, cwd=REPO_ROOT,
                             preexec_fn=sigint_default_in_child)
    workers = wait_until(lambda: len(children_of(child.pid)) >= 5 and children_of(child.pid))
    assert workers, child.communicate(timeout=WAIT_SECONDS)
    time.sleep(3.0)  # the command line has no hook: well inside its run by now
    workers = children_of(child.pid)
    started = time.monotonic()
    os.killpg(child.pid, signal.SIGINT)
    code, out, err = finish(child)
    assert code == 130, (code, err)
    assert err.strip().splitlines() == ["egru: interrupted"], err
    assert time.monotonic() - started < 20
    assert wait_until(lambda: not alive(workers), 10), alive(workers)
    assert not (tmp_path / "y.npy").exists()


def test_sigterm_stops_the_runtime(network_file):
    before = shm_segments()
    # without the parent-death signal, workers left by a broken teardown would outlive the parent
    child = start_child("import lava_egru.lifecycle\nlava_egru.lifecycle._LIBC = None\n" + LONG_RUN_API,
                        network_file)
    workers = wait_for_long_run(child)
    child.terminate()  # SIGTERM, as `kill PID` and job schedulers send
    code, out, err = finish(child)
    assert code == -signal.SIGTERM, (code, err)
    assert wait_until(lambda: not alive(workers), 10), alive(workers)
    assert "resource_tracker" not in err and "Traceback" not in err, err
    assert shm_segments() <= before


def test_sigkill_of_the_parent_ends_the_workers(network_file):
    before = shm_segments()
    child = start_child(LONG_RUN_API, network_file)
    workers = wait_for_long_run(child)
    every = workers + [pid for worker in workers for pid in children_of(worker)]
    child.kill()
    finish(child)
    assert wait_until(lambda: not alive(every), 15), f"still running after the parent's SIGKILL: {alive(every)}"
    # the resource tracker unlinks the segments once the last worker is gone
    assert wait_until(lambda: shm_segments() <= before, 15), shm_segments() - before


def test_ctrl_c_while_the_workers_start(network_file, tmp_path):
    building = tmp_path / "building"
    code = textwrap.dedent(f"""
    from lava.magma.runtime.runtime import Runtime
    original = Runtime._build_runtime_services
    def slow(self):
        original(self)
        Path({str(building)!r}).write_text("forked")
        time.sleep(3.0)  # the signal lands inside Lava's initialize
    Runtime._build_runtime_services = slow
    try:
        simulate(net, x[:100])
    except KeyboardInterrupt:
        print("KEYBOARD INTERRUPT AT", time.time(), flush=True)
    Runtime._build_runtime_services = original
    """) + SECOND_RUN
    child = start_child(code, network_file)
    workers = running_workers(child, marker=building)
    sent = time.time()
    os.killpg(child.pid, signal.SIGINT)
    code_, out, err = finish(child)
    assert code_ == 0, out + err
    assert "KEYBOARD INTERRUPT AT" in out and "SECOND RUN OK" in out, out + err
    assert "Traceback" not in err, err
    assert interrupt_delay(out, sent) < 10
    assert wait_until(lambda: not alive(workers), 10), alive(workers)


@pytest.mark.parametrize("fault, named", [
    ("raise RuntimeError('injected fault')", "injected fault"),
    ("os._exit(3)", "exited with code 3"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "killed by SIGKILL"),
])
def test_a_failing_worker_is_named_and_nothing_hangs(network_file, fault, named):
    code = textwrap.dedent(f"""
    original = _original_run_spk
    def faulty(self):
        if self.time_step == 3:
            {fault}
        original(self)
    PyDenseModelFloat.run_spk = faulty
    started = time.monotonic()
    try:
        simulate(net, x)
    except RuntimeError as exc:
        print("ERROR:", exc, flush=True)
        print("SECONDS:", time.monotonic() - started, flush=True)
    else:
        print("NO ERROR", flush=True)
    PyDenseModelFloat.run_spk = original
    """) + SECOND_RUN
    child = start_child(code, network_file)
    code_, out, err = finish(child)
    assert code_ == 0, out + err
    assert "ERROR: a Lava ProcessModel failed during the run:" in out, out + err
    assert "PyDenseModelFloat" in out and named in out, out
    seconds = float(out.split("SECONDS:")[1].split()[0])
    assert seconds < 20, seconds
    assert "SECOND RUN OK" in out, out + err


def test_workers_ignore_sigint_and_die_with_their_parent(network_file, tmp_path):
    report = tmp_path / "worker.txt"
    code = textwrap.dedent(f"""
    import ctypes, multiprocessing
    original = _original_run_spk
    def recording(self):
        if self.time_step == 1:
            libc = ctypes.CDLL(None)
            death = ctypes.c_int(0)
            libc.prctl(2, ctypes.byref(death), 0, 0, 0)  # PR_GET_PDEATHSIG
            Path({str(report)!r}).write_text(f"{{signal.getsignal(signal.SIGINT)}} {{death.value}}")
        original(self)
    PyDenseModelFloat.run_spk = recording
    simulate(net, x[:10])
    PyDenseModelFloat.run_spk = original

    def plain_child(queue):
        queue.put(str(signal.getsignal(signal.SIGINT)))
    queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=plain_child, args=(queue,))
    process.start()
    print("PLAIN CHILD:", queue.get(timeout=30), flush=True)
    process.join()
    """) + SECOND_RUN
    child = start_child(code, network_file)
    code_, out, err = finish(child)
    assert code_ == 0, out + err
    sigint, death = report.read_text().split()
    assert int(sigint) == signal.SIG_IGN and int(death) == signal.SIGKILL
    # a process the application forks after simulate is not touched
    assert f"PLAIN CHILD: {signal.default_int_handler}" in out, out
