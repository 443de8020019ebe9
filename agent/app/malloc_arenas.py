"""Fewer glibc malloc arenas for the long-running daemon.

glibc gives threads that contend for the heap arenas of their own, up to eight per core. The
daemon runs a couple of dozen worker threads (file intake, SQL, HTTP), each allocating a
little in turn, so memory freed in one arena is not reused by the next thread's allocations
and the resident size creeps up with uptime. Two arenas keep it flat
(benchmarks/memory.py: +12% over 100,000 intents with glibc's default, +6% to +9% with two); the
threads mostly wait on I/O, so they seldom contend for an arena anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["DAEMON_ARENAS", "limit_malloc_arenas"]

DAEMON_ARENAS = 2
# mallopt's parameter number for the arena limit (glibc's malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = DAEMON_ARENAS) -> bool:
    """Cap glibc's arenas before the daemon starts its threads; True when the cap is set.

    Leaves it alone when MALLOC_ARENA_MAX is in the environment (the operator chose) or the C
    library is not glibc (mallopt is glibc's).
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
