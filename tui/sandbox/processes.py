"""Real local processes for sandbox VMs (and later Vertex AI jobs).

Each process runs `bash -c SCRIPT` in its own working directory and its own process group
(its own session), so stopping it reaches everything it started. Its output is read on the
event loop (never blocking it), turned into lines and appended to a log file — for a VM, the
serial console. CPU time of the whole process tree is measured with psutil, for the Cloud
Monitoring surface (CPU utilisation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger("cloudpane.sandbox.processes")

LineFormatter = Callable[[str], str]
ExitCallback = Callable[[int], Awaitable[None] | None]

_READ_CHUNK = 65536


@dataclass
class ManagedProcess:
    key: str
    proc: asyncio.subprocess.Process
    log_path: Path
    started: float  # psutil create_time of the group leader
    reader: asyncio.Task[None] | None = None
    cpu_seen: float = 0.0  # the most CPU seconds ever measured for this tree
    stopping: bool = False
    kill_timer: asyncio.TimerHandle | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exited(self) -> bool:
        return self.proc.returncode is not None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_stale_group(pid: int, create_time: float) -> bool:
    """Kill a process group left over by an earlier daemon (if its leader is who we think)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01:
            return False  # the pid was reused by someone else
    except psutil.Error:
        return False
    _signal_group(pid, signal.SIGKILL)
    return True


class ProcessTable:
    """The sandbox's running processes, by key (e.g. "project/zone/instance")."""

    def __init__(self) -> None:
        self._procs: dict[str, ManagedProcess] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._procs

    def get(self, key: str) -> ManagedProcess | None:
        return self._procs.get(key)

    def keys(self) -> list[str]:
        return list(self._procs)

    async def start(
        self,
        key: str,
        script: str,
        *,
        cwd: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        format_line: LineFormatter | None = None,
        on_line: Callable[[str], None] | None = None,
        on_exit: ExitCallback | None = None,
        exit_line: Callable[[int], str] | None = None,
    ) -> ManagedProcess:
        """Run `bash -c script`; output lines go (formatted) to `log_path`."""
        await self.kill(key)  # one process per key
        cwd.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script,
            cwd=str(cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # own process group: stop reaches all it started
        )
        try:
            started = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            started = 0.0
        managed = ManagedProcess(key, proc, log_path, started)
        self._procs[key] = managed
        managed.reader = asyncio.create_task(
            self._pump(managed, format_line, on_line, on_exit, exit_line),
            name=f"output of {key}",
        )
        return managed

    async def _pump(
        self,
        managed: ManagedProcess,
        format_line: LineFormatter | None,
        on_line: Callable[[str], None] | None,
        on_exit: ExitCallback | None,
        exit_line: Callable[[int], str] | None,
    ) -> None:
        stream = managed.proc.stdout
        assert stream is not None
        pending = b""
        with open(managed.log_path, "ab", buffering=0) as out:

            def emit(raw: bytes) -> None:
                text = raw.decode("utf-8", errors="replace").rstrip("\r")
                if on_line is not None:
                    try:
                        on_line(text)
                    except Exception:  # a listener must not stop the output
                        log.exception("line listener failed for %s", managed.key)
                line = format_line(text) if format_line else text
                out.write((line + "\n").encode("utf-8", errors="replace"))

            while True:
                chunk = await stream.read(_READ_CHUNK)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    emit(raw)
                if len(pending) > _READ_CHUNK:  # a very long line without a newline
                    emit(pending)
                    pending = b""
            if pending:
                emit(pending)
            code = await managed.proc.wait()
            self._measure(managed)
            if exit_line is not None and not managed.stopping:
                out.write((exit_line(code) + "\n").encode())
        if on_exit is not None and not managed.stopping:
            result = on_exit(code)
            if asyncio.iscoroutine(result):
                await result

    def stop(self, key: str, grace: float = 2.0) -> None:
        """SIGTERM the process group now, SIGKILL it after `grace` seconds (an ACPI shutdown)."""
        managed = self._procs.get(key)
        if managed is None:
            return
        self._measure(managed)
        managed.stopping = True
        _signal_group(managed.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        managed.kill_timer = loop.call_later(grace, _signal_group, managed.pid, signal.SIGKILL)

    async def kill(self, key: str) -> None:
        """SIGKILL the process group and forget it (power off)."""
        managed = self._procs.pop(key, None)
        if managed is None:
            return
        self._kill_now(managed)
        if managed.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(managed.reader), timeout=2.0)

    def kill_nowait(self, key: str) -> None:
        managed = self._procs.pop(key, None)
        if managed is not None:
            self._kill_now(managed)
            if managed.reader is not None:
                managed.reader.cancel()

    def _kill_now(self, managed: ManagedProcess) -> None:
        self._measure(managed)
        managed.stopping = True
        if managed.kill_timer is not None:
            managed.kill_timer.cancel()
        _signal_group(managed.pid, signal.SIGKILL)

    def kill_all(self) -> None:
        for key in list(self._procs):
            self.kill_nowait(key)

    async def kill_all_and_wait(self) -> None:
        await asyncio.gather(*(self.kill(key) for key in list(self._procs)))

    def cpu_seconds(self, key: str) -> float | None:
        """User+system CPU seconds of the whole process tree so far; None if not known."""
        managed = self._procs.get(key)
        if managed is None:
            return None
        return self._measure(managed)

    def group_alive(self, key: str) -> bool:
        managed = self._procs.get(key)
        return managed is not None and _group_alive(managed.pid)

    @staticmethod
    def _measure(managed: ManagedProcess) -> float:
        total = 0.0
        try:
            root = psutil.Process(managed.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for proc in tree:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            # children_* count reaped children, which are no longer in the tree.
            total += t.user + t.system + t.children_user + t.children_system
        managed.cpu_seen = max(managed.cpu_seen, total)
        return managed.cpu_seen
