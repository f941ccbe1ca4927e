"""Start and stop `make lab` the way a student does (not a test module).

Used by test_lab.py (HTTP checks) and test_browser.py (the walkthrough in
Chromium). JupyterLab runs through the real make target with --no-browser, a
free port and a random token, in a process group of its own, with config and
runtime folders in a temporary directory so that nothing of the user's own
Jupyter setup leaks in and nothing is left behind.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from notebook_utils import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def http_delete(url: str) -> int:
    request = urllib.request.Request(url, method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class LabServer:
    """A running `make lab`; `proc.pid` is also its process-group id."""

    proc: subprocess.Popen
    port: int
    token: str
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_text(self) -> str:
        return (self.workdir / "lab.log").read_text(errors="replace")

    def url(self, path: str, **query: str) -> str:
        """`path` under the server root with the token (and `query`) appended."""
        return f"{self.base_url}{path}?{urllib.parse.urlencode({**query, 'token': self.token})}"

    def api(self, path: str) -> object:
        status, body = http_get(self.url(f"/api/{path}"))
        if status != 200:
            raise RuntimeError(f"GET /api/{path} answered {status}; log:\n{self.log_text}")
        return json.loads(body)


def start_lab(workdir: Path, lab_args: tuple[str, ...] = (), env: dict[str, str] | None = None,
              ready_timeout_s: float = 90.0) -> LabServer:
    """`make lab` on a free port with a random token; returns once /api/status answers 200."""
    port, token = free_port(), secrets.token_hex(16)
    args = " ".join(("--no-browser", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
                     *lab_args))
    # A private config dir: no user settings, extensions or workspaces from ~/.jupyter.
    lab_env = {**(os.environ if env is None else env),
               "JUPYTER_CONFIG_DIR": str(workdir / "config"),
               "JUPYTER_RUNTIME_DIR": str(workdir / "runtime")}
    with (workdir / "lab.log").open("w") as log:
        proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={args}"],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=lab_env,
                                start_new_session=True)
    lab = LabServer(proc, port, token, workdir)
    try:
        wait_until_ready(lab, ready_timeout_s)
    except BaseException:
        stop_lab(lab)
        raise
    return lab


def wait_until_ready(lab: LabServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and lab.proc.poll() is None:
        try:
            if http_get(lab.url("/api/status"))[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {timeout_s:.0f} s "
                       f"(exit code {lab.proc.poll()}); log:\n{lab.log_text}")


def process_table() -> list[tuple[int, int, int, str]]:
    """(pid, parent pid, process-group id, command) of every live process (POSIX `ps`)."""
    ps = subprocess.Popen(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat=,args="],
                          stdout=subprocess.PIPE, text=True)
    table, _ = ps.communicate(timeout=30)
    rows = []
    for line in table.splitlines():
        pid, ppid, pgid, stat, args = (line.split(None, 4) + [""])[:5]
        # Zombies are dead, only not yet reaped; ps lists itself.
        if not stat.startswith("Z") and int(pid) != ps.pid:
            rows.append((int(pid), int(ppid), int(pgid), args))
    return rows


def processes_of(lab: LabServer) -> list[str]:
    """`pid command` of every live process in the lab's group or using its runtime dir.

    Kernels run in sessions of their own (jupyter_client starts them so), so the
    process group alone would miss them; their command line names a connection
    file in the lab's private runtime dir.
    """
    runtime = str(lab.workdir / "runtime")
    return [f"{pid} {args}" for pid, _, pgid, args in process_table()
            if pgid == lab.proc.pid or runtime in args]


def stop_lab(lab: LabServer, grace_s: float = 20.0) -> list[str]:
    """SIGTERM the group (Jupyter then shuts its kernels down), SIGKILL what outlives it.

    Returns what was still running after the grace period (empty when the
    shutdown was clean); those processes are killed before returning.
    """
    signal_group(lab, signal.SIGTERM)
    try:
        lab.proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + grace_s
    while processes_of(lab) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = processes_of(lab)
    signal_group(lab, signal.SIGKILL)
    for entry in leftovers:
        try:
            os.kill(int(entry.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    if lab.proc.poll() is None:
        lab.proc.wait(timeout=grace_s)
    return leftovers


def signal_group(lab: LabServer, signum: int) -> None:
    try:
        os.killpg(lab.proc.pid, signum)
    except ProcessLookupError:
        pass
