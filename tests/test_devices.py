"""How the compute precision is chosen: bf16 only where the CPU has bf16 units."""

import torch

from painterly import devices

X86_NATIVE = "processor : 0\nflags : fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_tile\n"
X86_EMULATED = "processor : 0\nflags : fpu sse2 avx2 avx512f avx512bw avx512vl\n"
ARM_NATIVE = "processor : 0\nFeatures : fp asimd sve bf16 i8mm\n"


def test_cpuinfo_flags_decide_native_bf16():
    assert devices.native_bf16_in_cpuinfo(X86_NATIVE) is True
    # Plain AVX-512: oneDNN converts bf16 to float32 there, three times slower than float32.
    assert devices.native_bf16_in_cpuinfo(X86_EMULATED) is False
    assert devices.native_bf16_in_cpuinfo(ARM_NATIVE) is True
    assert devices.native_bf16_in_cpuinfo("processor : 0\n") is None


def test_auto_precision_follows_the_cpu_and_explicit_choices_win(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.pick_precision("auto", cpu) == torch.float32
    assert devices.pick_precision("bf16", cpu) == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.pick_precision("auto", cpu) == torch.bfloat16
    assert devices.pick_precision("fp32", cpu) == torch.float32


def test_this_machine_reads_its_own_cpuinfo():
    text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    expected = devices.native_bf16_in_cpuinfo(text)
    assert expected is not None, "this Linux machine's /proc/cpuinfo lists its flags"
    assert devices.cpu_has_native_bf16() is expected
