"""glibc malloc kept from handing large freed blocks back to the kernel at once.

Memory the kernel maps afresh costs a page fault per 4 KiB (on a virtual machine about a
millisecond per MiB, more than copying it several times). glibc returns freed memory above
its thresholds to the kernel at once: by default a block of 128 KiB or more is its own
mapping, unmapped when freed, and the heap's free top is trimmed past 128 KiB. Each large
value a worker handles (a long string decoded from its attachment, the UTF-8 bytes of an
answer) then lands in fresh pages. glibc raises both thresholds by itself after a large
block is freed, up to 32 MiB for a mapping and twice that for the trim, but the first
transfers of each size pay, and a trim of the heap's top starts the cycle again. Setting the
ceilings at once keeps those blocks in the heap for reuse: a worker holds at most about
64 MiB of freed memory that glibc itself would have been willing to keep. Each worker sets
them when it starts (the fork server does not: what its imports freed goes back).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

# mallopt(3) parameters and the ceilings glibc's own dynamic thresholds reach on 64-bit.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


def keep_freed_memory() -> bool:
    """Applies the thresholds when the C library is glibc; True when it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt): its own policy stays
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
