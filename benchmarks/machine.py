"""One line about the machine a benchmark ran on: OS, CPU model, cores, Python, load, libraries."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


def describe(libraries: tuple[str, ...] = ()) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = []
    for name in libraries:
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    return (
        f"{platform.platform()}; {cpu}; {os.cpu_count()} CPUs; Python "
        f"{platform.python_version()}; load average {load}\n{'; '.join(versions)}"
    )
