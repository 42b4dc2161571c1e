"""The CPU share that comes with the memory size: a cgroup quota for the environment's processes.

Lambda allocates CPU in proportion to memory; at 1,769 MB a function has the equivalent of one
vCPU (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html), so a 128 MB
function gets 128/1769 of a CPU. With ``--cpu-share`` the emulator puts every process of the
environment (extensions, runtime, and what they fork) into a cgroup of its own with that quota:
``cpu.max`` on cgroup v2 when the ``cpu`` controller can be enabled there, else
``cpu.cfs_quota_us``/``cpu.cfs_period_us`` of the cgroup v1 ``cpu`` hierarchy. When neither is
writable (no privileges, a container without cgroup delegation) :func:`create` says why and the
environment runs unthrottled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ONE_VCPU_MB = 1769
"""Memory size at which a Lambda function has the equivalent of one full vCPU."""
PERIOD_US = 100_000
"""The scheduling period the quota is a share of (the kernel's default CFS period)."""
MIN_QUOTA_US = 1_000
"""The smallest quota the kernel accepts."""


def quota_us(memory_mb: int, period_us: int = PERIOD_US) -> int:
    """CPU time per period for ``memory_mb``: ``memory_mb / 1769`` of one CPU."""
    return max(MIN_QUOTA_US, round(period_us * memory_mb / ONE_VCPU_MB))


@dataclass
class CpuQuota:
    """A cgroup created for one environment, with its CPU quota set."""

    path: Path
    version: int
    quota_us: int
    period_us: int

    def add(self, pid: int) -> None:
        """Move ``pid`` into the cgroup (its later children are born there)."""
        with contextlib.suppress(ProcessLookupError, FileNotFoundError):
            (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def members(self) -> list[int]:
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def throttled_periods(self) -> int:
        """How many periods the group ran out of quota (``nr_throttled`` of ``cpu.stat``)."""
        try:
            text = (self.path / "cpu.stat").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "nr_throttled":
                return int(value)
        return 0

    def remove(self) -> bool:
        """Delete the cgroup; False while a process is still in it (the kernel refuses then)."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True


def _own_cgroup(version: int) -> str | None:
    """This process's cgroup path in the v2 hierarchy, or in the v1 ``cpu`` hierarchy."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if version == 2 and controllers == "":
            return path
        if version == 1 and "cpu" in controllers.split(","):
            return path
    return None


def _mount_point(version: int) -> Path | None:
    """Where the v2 hierarchy, or the v1 hierarchy holding the ``cpu`` controller, is mounted."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, extra = before.split(), after.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        fstype, options = extra[0], extra[2].split(",")
        if version == 2 and fstype == "cgroup2":
            return Path(fields[4])
        if version == 1 and fstype == "cgroup" and "cpu" in options:
            return Path(fields[4])
    return None


def _create_v2(memory_mb: int) -> CpuQuota | str:
    mount, own = _mount_point(2), _own_cgroup(2)
    if mount is None or own is None:
        return "no cgroup v2 hierarchy"
    parent = mount / own.lstrip("/")
    try:
        if "cpu" not in (parent / "cgroup.controllers").read_text().split():
            return f"cgroup v2 at {parent} does not offer the cpu controller"
        if "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
            (parent / "cgroup.subtree_control").write_text("+cpu\n")
        path = parent / f"lambda-emulator-{secrets.token_hex(4)}"
        path.mkdir()
    except OSError as exc:
        return f"cgroup v2 at {parent} is not writable here ({exc.strerror})"
    quota = quota_us(memory_mb)
    try:
        (path / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
    except OSError as exc:
        path.rmdir()
        return f"cpu.max of {path} is not writable ({exc.strerror})"
    return CpuQuota(path, 2, quota, PERIOD_US)


def _create_v1(memory_mb: int) -> CpuQuota | str:
    mount, own = _mount_point(1), _own_cgroup(1)
    if mount is None or own is None:
        return "no cgroup v1 cpu hierarchy"
    path = mount / own.lstrip("/") / f"lambda-emulator-{secrets.token_hex(4)}"
    try:
        path.mkdir()
    except OSError as exc:
        return f"cgroup v1 cpu hierarchy at {path.parent} is not writable here ({exc.strerror})"
    quota = quota_us(memory_mb)
    try:
        (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
        (path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    except OSError as exc:
        path.rmdir()
        return f"cpu.cfs_quota_us of {path} is not writable ({exc.strerror})"
    return CpuQuota(path, 1, quota, PERIOD_US)


def create(memory_mb: int) -> CpuQuota | str:
    """A cgroup with the CPU share of ``memory_mb``, or why none can be made on this machine."""
    if not Path("/proc/self/cgroup").exists() or os.name != "posix":
        return "cgroups are a Linux feature"
    reasons = []
    for attempt in (_create_v2, _create_v1):
        made = attempt(memory_mb)
        if isinstance(made, CpuQuota):
            return made
        reasons.append(made)
    return "; ".join(reasons)
