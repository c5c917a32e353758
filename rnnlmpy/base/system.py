"""What the machine can hold: refuse work whose arrays would not fit in memory, before allocating them."""

from __future__ import annotations

import os

from .errors import RnnlmpyError


def available_memory_bytes() -> int:
    """Memory this process can still use, in bytes (Linux MemAvailable; else the physical memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(needed_bytes: float, what: str) -> None:
    """RnnlmpyError naming ``what`` when ``needed_bytes`` exceed the memory available now."""
    available = available_memory_bytes()
    if needed_bytes > available:
        raise RnnlmpyError(f"{what} would need {needed_bytes / 2**30:,.1f} GiB of memory; this machine has "
                           f"{available / 2**30:,.1f} GiB available")
