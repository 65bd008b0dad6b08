"""Who runs a trial: the identity of a process (host, pid, start time), recorded on every trial when it is
asked, and whether a recorded owner is still alive.

A RUNNING trial whose owner ran on *this* machine and is gone (its pid no longer exists, is a zombie, or
belongs to a process that started at another time, i.e. the pid was reused) is an orphan: nobody will
ever finish it, so the search marks it failed at once (``kill -9``, the OOM killer, a closed terminal).
An owner on another machine cannot be checked from here (``"unknown"``); RDB storages detect those by
heartbeats.

How a process is identified:

* Linux: pid and start time (clock ticks since boot, field 22 of ``/proc/PID/stat``); the machine is
  the kernel's boot id plus the pid namespace, so a rebooted machine, or a container with its own pids
  and the same host name, is another machine.
* other POSIX systems: the pid only (``os.kill(pid, 0)``; a reused pid looks alive), the machine by
  host name.
* elsewhere (Windows): owners are recorded but never judged (heartbeats only).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

__all__ = ["OWNER_ATTR", "OwnerState", "owner_state", "process_owner"]

#: Trial system attribute holding the owner record (a JSON object: ``host``, ``machine``, ``pid``, ``start``).
OWNER_ATTR = "autogtkd:owner"

OwnerState = Literal["alive", "dead", "unknown"]
_PROC = Path("/proc")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _machine() -> str | None:
    """``BOOT_ID/pid:[INODE]`` on Linux (``None`` where /proc does not tell)."""
    boot = _read(_PROC / "sys" / "kernel" / "random" / "boot_id")
    try:
        ns = os.readlink(_PROC / "self" / "ns" / "pid")
    except OSError:
        return None
    return f"{boot}/{ns}" if boot else None


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state letter, start time in clock ticks since boot)`` of ``pid``, ``None`` when it does not exist."""
    text = _read(_PROC / str(pid) / "stat")
    if text is None or ")" not in text:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime) of proc(5)


def process_owner(pid: int | None = None) -> dict[str, Any]:
    """The owner record of process ``pid`` on this machine (default: this process).

    Returns:
        ``{"host": host name, "machine": boot id and pid namespace or None, "pid": pid, "start":
        start time in clock ticks since boot or None}``; ``start`` is ``None`` off Linux.
    """
    pid = os.getpid() if pid is None else pid
    machine = _machine()
    st = _stat(pid) if machine is not None else None
    return {"host": socket.gethostname(), "machine": machine, "pid": pid, "start": st[1] if st else None}


def owner_state(owner: Any) -> OwnerState:
    """Whether the process of an owner record (see :func:`process_owner`) is ``alive`` or ``dead``;
    ``unknown`` for an owner on another machine, a missing or malformed record, or a platform where
    processes cannot be checked."""
    if not isinstance(owner, Mapping):
        return "unknown"
    pid = owner.get("pid")
    machine = _machine()
    if owner.get("host") != socket.gethostname() or owner.get("machine") != machine:
        return "unknown"
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return "unknown"
    if machine is not None:  # Linux: pid and start time
        st = _stat(pid)
        if st is None or st[0] in ("Z", "X"):  # gone, or killed and not yet reaped by its parent
            return "dead"
        start = owner.get("start")
        return "dead" if isinstance(start, int) and start != st[1] else "alive"
    if os.name != "posix":
        return "unknown"
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return "dead"
    except OSError:  # PermissionError: it exists, under another user
        return "alive"
    return "alive"
