"""runtime.bf16: "auto" resolves to bf16 only where the CPU computes it natively."""

import pytest
import torch

from xstilts.core import train
from xstilts.core.params import ParamsError, RuntimeParams, parse_params

AVX2_EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma bmi2
"""
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
"""
AVX512_NO_BF16 = "flags\t\t: avx2 avx512f avx512bw avx512vl avx512dq\n"
NEOVERSE_V1 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize("cpuinfo, native", [
    (AVX2_EPYC, False), (SAPPHIRE_RAPIDS, True), (AVX512_NO_BF16, False), (NEOVERSE_V1, True),
    ("", False),
])
def test_cpu_native_bf16_from_cpuinfo_flags(cpuinfo, native):
    assert train.cpu_has_native_bf16(cpuinfo) is native


@pytest.mark.parametrize("native", [False, True])
def test_resolve_bf16_on_cpu(monkeypatch, native):
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda cpuinfo=None: native)
    cpu = torch.device("cpu")
    assert train.resolve_bf16("auto", cpu) is native
    assert train.resolve_bf16(True, cpu) is True  # an explicit true is obeyed
    assert train.resolve_bf16(False, cpu) is False


def test_setup_runtime_resolves_auto(monkeypatch):
    monkeypatch.setattr(train, "cpu_has_native_bf16", lambda cpuinfo=None: False)
    device, bf16 = train.setup_runtime(RuntimeParams(device="cpu", threads=1))
    assert device.type == "cpu" and bf16 is False  # the default is "auto"
    assert train.setup_runtime(RuntimeParams(device="cpu", threads=1, bf16=True))[1] is True


def test_bf16_param_values():
    assert RuntimeParams().bf16 == "auto"
    with pytest.raises(ParamsError, match="runtime.bf16"):
        parse_params("runtime:\n  bf16: sometimes\n")
