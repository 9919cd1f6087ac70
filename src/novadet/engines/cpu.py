"""How a training uses the CPU: bf16 autocast where the CPU has native bf16, channels-last, a RAM cache.

Measured on the 2-core CPU of ``bench/RESULTS.md`` (``bench/train_speed.py``); every engine asks here, and
the run's provenance records what was used and why.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

# CPU flags (Linux /proc/cpuinfo names) of native bf16 arithmetic: AVX512-BF16 (Cooper Lake, Zen 4 and
# later) and AMX-BF16 (Sapphire Rapids and later). Without them torch emulates bf16, which is slower.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
RAM_CACHE_SHARE = 0.25  # the most of the available memory a RAM cache of the training images may take


@dataclass(frozen=True)
class CpuPlan:
    """What a training will do on the CPU, and why (recorded in the run's provenance)."""

    bf16: bool
    channels_last: bool
    why: str

    def describe(self) -> str:
        arithmetic = "bf16 autocast (fp32 master weights)" if self.bf16 else "fp32"
        layout = ", channels-last" if self.channels_last else ""
        return f"{arithmetic}{layout}: {self.why}"


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags, where the platform says (Linux); empty elsewhere."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return frozenset()
    for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_model() -> str:
    """The CPU's model name, where the platform says (Linux's ``model name``); else the architecture."""
    import platform

    info = Path("/proc/cpuinfo")
    lines = info.read_text(encoding="utf-8", errors="replace").splitlines() if info.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.machine()


def cpu_summary() -> str:
    """One line for a benchmark's header: the CPU, its cores, and the flags that decide bf16 and INT8 speed."""
    flags = cpu_flags()
    named = sorted(flags & (BF16_FLAGS | {"avx512f", "avx512_vnni", "avx_vnni"}))
    return f"{cpu_model()}, {os.cpu_count()} cores, flags: {', '.join(named) or 'none of the AVX-512, VNNI, bf16 set'}"


def native_bf16() -> bool:
    """Does this CPU compute bf16 natively?"""
    return bool(BF16_FLAGS & cpu_flags())


def plan_cpu(precision: str, channels_last: bool, on_cpu: bool) -> CpuPlan:
    """The arithmetic and layout of a training asked for ``precision`` (auto, bf16 or fp32)."""
    if not on_cpu:
        return CpuPlan(False, False, "on a GPU the engine's own mixed precision applies")
    native = native_bf16()
    found = ", ".join(sorted(BF16_FLAGS & cpu_flags())) or "neither AVX512-BF16 nor AMX-BF16"
    if precision == "fp32":
        return CpuPlan(False, channels_last, "fp32 asked for")
    if precision == "bf16":
        if not native:
            log.warning("bf16 asked for, but this CPU has %s: torch emulates it, slower than fp32", found)
        return CpuPlan(True, channels_last, f"bf16 asked for; this CPU has {found}")
    if not native:
        log.warning("precision auto: this CPU has %s, so training runs in fp32", found)
        return CpuPlan(False, channels_last, f"auto; this CPU has {found}, so fp32")
    return CpuPlan(True, channels_last, f"auto; this CPU has {found}")


def ram_cache_fits(images: int, imgsz: int) -> bool:
    """Would ``images`` decoded at ``imgsz`` (3 channels, long side) fit in a share of the available memory?"""
    needed = images * imgsz * imgsz * 3
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # a platform that cannot say: do not cache
        return False
    return needed <= RAM_CACHE_SHARE * available
