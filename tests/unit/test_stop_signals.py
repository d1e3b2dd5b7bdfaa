"""common/stop_signals.py: a SIGTERM delivered to a thread other than the
main one still stops the process (the cause of a server that ignored SIGTERM
until it was killed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A process whose SIGTERM lands on a worker thread (pthread_kill), as the
# kernel may deliver a process-directed signal to any thread.
SCRIPT = textwrap.dedent("""
    import signal, sys, threading, time
    from common.stop_signals import stop_event, wait_until_set

    stopping = stop_event()

    def worker():
        time.sleep(0.3)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        time.sleep(60)

    threading.Thread(target=worker, daemon=True).start()
    if sys.argv[1] == "plain":
        stopping.wait()
    else:
        wait_until_set(stopping)
    print("stopped", flush=True)
""")


def _run(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_a_signal_on_another_thread_ends_the_wait():
    process = _run("stepped")
    out, _ = process.communicate(timeout=10)
    assert (process.returncode, out) == (0, "stopped\n")


def test_a_plain_wait_misses_it_which_is_why_the_steps_exist():
    process = _run("plain")
    try:
        time.sleep(2)
        assert process.poll() is None  # still waiting: the handler never ran
    finally:
        process.kill()
        process.communicate()
