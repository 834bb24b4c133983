"""Build and load the native kernels: C sources shipped in this package (``<name>.c`` and the
headers beside it), compiled once per machine with the system C compiler into a shared library
under the user cache dir ($PIXELAR_NATIVE_DIR overrides it), named by a hash of the sources, the
compiler, its flags and the processor (``-march=native``), and loaded with ctypes. A missing
compiler, or a failed build, is one line naming the fix."""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pixelar.errors import PixelarError

ENV_VAR = "PIXELAR_NATIVE_DIR"
SOURCES = Path(__file__).parent
# -O3 vectorises the inner loops; -march=native picks the machine's vector width (the library is
# built where it runs); no -ffast-math, which would reorder sums
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=c99")
_LOADED: dict[str, ctypes.CDLL] = {}


def compiler() -> str:
    """The C compiler: $CC, else the first of cc, gcc, clang on the PATH."""
    names = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
    for name in names:
        if shutil.which(name):
            return name
    raise PixelarError(
        f"method='compiled' builds a small C kernel and found no C compiler ({', '.join(names)}): install gcc or "
        "clang (or name one in $CC), or use method='fast'",
        param="method",
    )


def cpu_signature() -> str:
    """What -march=native compiles for: the processor's model and feature flags (on Linux), so a
    cache dir shared between machines never hands one a library built for another's CPU."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    wanted = ("model name", "flags", "Features", "CPU part")  # x86, and ARM's names
    return "\n".join(sorted({line for line in info if line.split(":")[0].strip() in wanted}))


def cache_dir() -> Path:
    """Where built libraries are kept: $PIXELAR_NATIVE_DIR, else the user cache dir."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pixelar")) / "native"


def load(name: str) -> ctypes.CDLL:
    """The library built from ``<name>.c`` in this package, building it first where needed
    (a second or so; written to a temporary file and renamed, so concurrent builds are safe)."""
    if name in _LOADED:
        return _LOADED[name]
    source = SOURCES / f"{name}.c"
    cc = compiler()
    code = b"".join(path.read_bytes() for path in [source, *sorted(SOURCES.glob("*.h"))])  # and what it includes
    key = hashlib.sha256(code + repr((cc, FLAGS, sys.platform, cpu_signature())).encode()).hexdigest()[:16]
    suffix = ".dll" if sys.platform == "win32" else ".so"
    target = cache_dir() / f"{name}-{key}{suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=suffix, dir=target.parent)
        os.close(fd)
        try:
            result = subprocess.run([cc, *FLAGS, str(source), "-o", tmp], capture_output=True, text=True)
            if result.returncode != 0:
                first = (result.stderr.strip().splitlines() or ["no message"])[0]
                raise PixelarError(
                    f"building the native kernel {name} with {cc} failed ({first}); use method='fast'",
                    param="method",
                )
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    _LOADED[name] = ctypes.CDLL(str(target))
    return _LOADED[name]
