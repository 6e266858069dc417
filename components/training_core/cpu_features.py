"""Whether this machine's CPU computes bfloat16 natively, from the flags Linux reports in /proc/cpuinfo.

Both trainers train in mixed bfloat16 on such a CPU when `cpu_mixed_precision` is set:
AVX512-BF16 (Cooper Lake, Zen 4 and later) and AMX-BF16 (Sapphire Rapids and later)
multiply bfloat16 matrices at about twice float32's rate. Elsewhere bfloat16 would be
emulated, slower than float32, so they train in float32.
"""

from __future__ import annotations

from pathlib import Path

NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True when the first CPU's `flags` line names AVX512-BF16 or AMX-BF16 (False where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags = set(value.split())
            return any(flag in flags for flag in NATIVE_BFLOAT16_FLAGS)
    return False


def cpu_mixed_precision_note(bfloat16: bool) -> str:
    """What `cpu_mixed_precision` does on this machine (no GPU visible), for the training log."""
    if bfloat16:
        return "this CPU computes bfloat16 natively, training in mixed bfloat16 (weights stay float32)"
    return "this CPU has no native bfloat16 (avx512_bf16 or amx_bf16), training in float32"
