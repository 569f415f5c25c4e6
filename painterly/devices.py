"""Choosing the device and the compute precision, explicitly and once, at the edge.

torch is imported by the functions that need it, so a run that never touches it (a photo through
onnxruntime) does not pay for importing it; :func:`cuda_ruled_out` tells such a run, without torch,
that ``auto`` means the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from painterly.errors import PainterlyError

if TYPE_CHECKING:
    import torch

#: Compute precisions a method may be asked for.
PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` → CUDA when available, else CPU; otherwise the named device, checked."""
    import torch

    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PainterlyError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PainterlyError(f"device {name!r} asked for but CUDA is not available here: use --device cpu")
    return device


def autocast(device: torch.device, dtype: torch.dtype | None):
    """A bf16/fp16 autocast context on ``device``, or a no-op when ``dtype`` is None or float32."""
    import torch

    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def pick_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for ``precision`` on ``device``."""
    import torch

    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return torch.float32


#: /proc/cpuinfo flags of CPUs that multiply bf16 in hardware: x86's AVX512-BF16 and AMX, Arm's BF16.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def native_bf16_in_cpuinfo(cpuinfo: str) -> bool | None:
    """Whether ``/proc/cpuinfo``'s text names a bf16 instruction set; ``None`` when it lists no flags.

    Example:
        >>> native_bf16_in_cpuinfo("flags : fpu sse avx512f avx512_bf16"), native_bf16_in_cpuinfo("flags : fpu avx512f")
        (True, False)
    """
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return bool(flags & NATIVE_BF16_FLAGS) if flags else None


@functools.cache  # a fact of the hardware, read once
def cpu_has_native_bf16() -> bool:
    """Whether bf16 is faster than float32 on this CPU.

    oneDNN also runs bf16 on CPUs with plain AVX-512, by converting to float32 and back: there a
    3×3 convolution of 64 channels at 512×384 took 0.28 s in bf16 against 0.094 s in float32. So
    ``auto`` takes bf16 only where the CPU says it has bf16 units (Linux's ``/proc/cpuinfo``),
    elsewhere where oneDNN has a bf16 path.
    """
    import torch

    try:
        native = native_bf16_in_cpuinfo(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        native = None
    if native is not None:
        return native
    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(supported is not None and supported())


#: Units :func:`parse_memory` takes (powers of 1024, as ``free`` and ``ulimit`` count).
MEMORY_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_memory(value: str | int | float | None) -> int | None:
    """A memory amount as bytes: ``"4G"``, ``"512M"``, ``"1.5GB"``, ``"2GiB"`` or a number of bytes; ``None`` stays ``None``.

    Example:
        >>> parse_memory("4G"), parse_memory("512 MB"), parse_memory(1000)
        (4294967296, 536870912, 1000)
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PainterlyError(f"max memory takes an amount like 4G or 512M, got {type(value).__name__}")
    text = str(value).strip().upper().replace(" ", "").removesuffix("IB").removesuffix("B")
    number, unit = (text[:-1], text[-1]) if text[-1:] in "KMGT" and text[-1:] else (text, "")
    try:
        amount = float(number)
    except ValueError:
        raise PainterlyError(f"max memory takes an amount like 4G or 512M, got {value!r}") from None
    if not math.isfinite(amount) or amount <= 0:
        raise PainterlyError(f"max memory must be more than 0, got {value!r}")
    return int(amount * MEMORY_UNITS[unit])


def format_bytes(amount: float) -> str:
    """``1.5e9`` → ``"1.4 GB"`` (powers of 1024, one decimal from GB up)."""
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2)):
        if amount >= size:
            return f"{amount / size:.1f} {unit}" if unit != "MB" else f"{amount / size:.0f} MB"
    return f"{amount / 1024:.0f} KB"


def _read_int(path: str) -> int | None:
    try:
        text = open(path, encoding="ascii").read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """What the process's cgroup (v2, else v1) still allows: its limit minus its usage."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):  # fmt: skip
        limit = _read_int(limit_file)
        if limit is not None and limit < 2**60:  # "max", or v1's "no limit" (a huge number)
            return max(0, limit - (_read_int(usage_file) or 0))
    return None


def _address_space_room() -> int | None:
    """What ``ulimit -v`` (RLIMIT_AS) still allows this process to map."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm", encoding="ascii") as handle:
            mapped = int(handle.read().split()[0]) * resource.getpagesize()
        return max(0, limit - mapped)
    except (ImportError, OSError, ValueError):
        return None


def process_memory() -> int:
    """This process's resident memory in bytes (0 where it cannot be read)."""
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize()
    except (ImportError, OSError, ValueError, IndexError):
        return 0


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes this process may still allocate on ``device``; ``None`` when unknown (``"cpu"`` is
    answered without importing torch).

    On a CPU the smallest of the system's available memory (``MemAvailable`` in ``/proc/meminfo``),
    the room left under the cgroup's limit (a container) and under ``ulimit -v``; on a GPU its
    free memory.
    """
    if device != "cpu" and getattr(device, "type", None) != "cpu":
        device = resolve_device(device)
        if device.type == "cuda":
            import torch

            return int(torch.cuda.mem_get_info(device)[0])
    rooms = [room for room in (_meminfo_available(), _cgroup_room(), _address_space_room()) if room is not None]
    return min(rooms) if rooms else None


#: Device files of the GPUs PyTorch may use on Linux (NVIDIA, AMD ROCm, WSL's GPU).
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def _torch_build_has_gpu() -> bool:
    """Whether the installed torch was built for CUDA or ROCm, read from its ``version.py`` without
    importing it (``True`` when that cannot be read: then only torch can tell)."""
    try:
        spec = importlib.util.find_spec("torch")
        text = (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")  # type: ignore[union-attr, arg-type]
    except (ImportError, ValueError, AttributeError, TypeError, OSError):
        return True
    builds = re.findall(r"^(cuda|hip)\b[^=\n]*=\s*(.+)$", text, flags=re.MULTILINE)
    return len(builds) < 2 or any(value.strip() != "None" for _, value in builds)


def cuda_ruled_out() -> bool:
    """Whether ``resolve_device("auto")`` is certain to answer the CPU, told without importing torch:
    on macOS, with a torch built for neither CUDA nor ROCm, or on Linux with no GPU device file.

    ``False`` means "maybe": only torch can say, so callers then go through :func:`resolve_device`.
    """
    if sys.platform == "darwin" or not _torch_build_has_gpu():
        return True
    return sys.platform.startswith("linux") and not any(Path(name).exists() for name in _GPU_DEVICE_FILES)


def is_plain_cpu(name: object) -> bool:
    """Whether the device ``name`` (``None``, ``"auto"``, ``"cpu"`` …, as users give it) surely means
    the CPU, told without importing torch (see :func:`cuda_ruled_out`)."""
    if getattr(name, "type", None) == "cpu" or name == "cpu":
        return True
    return name in (None, "", "auto") and cuda_ruled_out()


def onnx_threads() -> int | None:
    """Threads for onnxruntime on the CPU: torch's when torch is loaded (``--threads`` sets them),
    else ``None``, onnxruntime's default (one per physical core, as torch's default)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def release_free_memory() -> None:
    """Hand memory that the C allocator holds but no tensor uses back to the system (glibc's
    ``malloc_trim``; nothing elsewhere). Between the scales of an optimization, so that the freed
    buffers of a smaller scale do not stay counted beside the larger scale's."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
