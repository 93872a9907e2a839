"""The CPU's instruction-set features, and the training defaults that depend on them.

Which path trains a model fastest depends on the CPU, not only on the model: XLA's code
for the audio model's training step beats TensorFlow's oneDNN kernels on AVX2 and AVX-512
CPUs without AMX, and loses to them on CPUs with AMX tiles (Intel Sapphire Rapids and
later), whose oneDNN build TensorFlow uses by default; the ResNet trains faster in
bfloat16 on AMX tiles. ``docs/performance.md`` has the measurements behind each rule, per
CPU kind.
"""

from __future__ import annotations

import functools

# CPU features that decide which kernels oneDNN and XLA can use (bfloat16 and int8 units).
CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_info(text=None):
    """``{"model": name or None, "flags": [the CPU_FLAGS present]}`` from /proc/cpuinfo.

    ``text``: the file's content (read from /proc/cpuinfo when None); a system without it
    (not Linux) gives ``{"model": None, "flags": None}``.
    """
    if text is None:
        try:
            with open("/proc/cpuinfo") as stream:
                text = stream.read()
        except OSError:
            return {"model": None, "flags": None}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    present = set(fields.get("flags", "").split())
    return {
        "model": fields.get("model name"),
        "flags": [flag for flag in CPU_FLAGS if flag in present],
    }


@functools.cache
def _this_cpu_flags():
    return tuple(cpu_info()["flags"] or ())


def xla_trains_audio_faster(flags=None):
    """Whether the audio model's training step is faster with XLA on a CPU with ``flags``
    (this machine's when None): yes, unless the CPU has AMX tiles. A CPU whose flags cannot
    be read (not Linux) counts as one without AMX."""
    flags = _this_cpu_flags() if flags is None else flags
    return "amx_tile" not in flags


def bfloat16_trains_faster(flags=None):
    """Whether ``mixed_bfloat16`` trains faster on a CPU with ``flags`` (this machine's
    when None): on AMX bfloat16 tiles, yes (ResNet-50 1.2x, the audio ``reference`` model
    2-3x). AVX-512 bfloat16 dot products alone are not counted: measured on one such CPU
    only, and its one accuracy comparison scored lower. Whether a model uses it is
    ``config.auto_bfloat16``'s choice."""
    flags = _this_cpu_flags() if flags is None else flags
    return "amx_bf16" in flags


def describe(flags=None):
    """The CPU's features that matter here, as words: ``"avx2, fma, avx512f"``."""
    flags = _this_cpu_flags() if flags is None else flags
    return ", ".join(flags) or "none of " + ", ".join(CPU_FLAGS)
