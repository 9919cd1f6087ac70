"""The CPU plan: bf16 only where the CPU has it natively (auto), said plainly when it falls back."""

from __future__ import annotations

import logging

import pytest

from novadet.engines import cpu


@pytest.mark.parametrize(("flags", "asked", "bf16"), [
    ({"avx512f", "avx512_bf16"}, "auto", True),
    ({"amx_bf16", "amx_tile"}, "auto", True),
    ({"avx2", "avx512f"}, "auto", False),  # no native bf16: auto falls back to fp32
    (set(), "auto", False),  # a platform that does not say
    ({"avx512_bf16"}, "fp32", False),
    ({"avx2"}, "bf16", True),  # asked for: emulated, with a warning
])
def test_plan_follows_the_cpu_flags(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                    flags: set[str], asked: str, bf16: bool) -> None:
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset(flags))
    with caplog.at_level(logging.WARNING, logger="novadet.engines.cpu"):
        plan = cpu.plan_cpu(asked, channels_last=True, on_cpu=True)
    assert plan.bf16 is bf16 and plan.channels_last
    native = bool(flags & cpu.BF16_FLAGS)
    assert (not native and asked != "fp32") == bool(caplog.records)  # a fallback or an emulation is said
    assert ("bf16 autocast" if bf16 else "fp32") in plan.describe()


def test_on_a_gpu_the_engines_own_amp_applies() -> None:
    plan = cpu.plan_cpu("bf16", channels_last=True, on_cpu=False)
    assert not plan.bf16 and not plan.channels_last and "GPU" in plan.why


def test_ram_cache_fits_a_share_of_free_memory() -> None:
    assert cpu.ram_cache_fits(10, 320)
    assert not cpu.ram_cache_fits(10**9, 1024)
