"""Build and load the native kernels: C sources shipped in this package (``<name>.c`` and the
headers beside it), compiled once per machine with the system C compiler into a shared library
under the user cache dir ($PIXELAR_NATIVE_DIR overrides it), named by a hash of the sources, the
compiler (its path and version), its flags and the processor (``-march=native``), and loaded
with ctypes. Where the compiler rejects ``-march=native`` the build is retried without it. A
missing compiler, a failed build or an unusable cache dir is one line naming the fix."""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
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
NATIVE = ("-march=native",)
FLAGS = ("-O3", "-shared", "-fPIC", "-std=c99")
LIBS = ("-lm",)  # after the source, as linkers want them
TIMEOUT_S = 300
_LOADED: dict[str, ctypes.CDLL] = {}
INSTEAD = "or use method='fast'"


def compiler() -> list[str]:
    """The C compiler's command: $CC (which may hold a wrapper, e.g. ``ccache gcc``), else the
    first of cc, gcc, clang on the PATH."""
    candidates = [shlex.split(os.environ["CC"])] if os.environ.get("CC", "").strip() else [["cc"], ["gcc"], ["clang"]]
    for command in candidates:
        if shutil.which(command[0]):
            return command
    names = ", ".join(" ".join(c) for c in candidates)
    raise PixelarError(
        f"method='compiled' builds a small C kernel and found no C compiler ({names}): install gcc or clang "
        f"(or name one in $CC), {INSTEAD}",
        param="method",
    )


def compiler_identity(command: list[str]) -> str:
    """The compiler's path and the first line of its ``--version`` (a new compiler: a new build)."""
    try:
        out = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"{shutil.which(command[0])} {(out.splitlines() or [''])[0]}"


def cpu_signature() -> str:
    """What -march=native compiles for: the processor's model and feature flags, so a cache dir
    shared between machines never hands one a library built for another's CPU."""
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()  # Linux
    except OSError:
        info = []
    wanted = ("model name", "flags", "Features", "CPU part")  # x86, and ARM's names
    lines = sorted({line for line in info if line.split(":")[0].strip() in wanted})
    if not lines and sys.platform == "darwin":
        try:
            brand = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=10
            ).stdout
            lines = [brand.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return "\n".join([platform.machine(), platform.processor(), *lines])


def cache_dir() -> Path:
    """Where built libraries are kept: $PIXELAR_NATIVE_DIR, else the user cache dir."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("pixelar")) / "native"


def first_error(stderr: str) -> str:
    """The line of a compiler's messages that says what went wrong (the first naming an error)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no message")


def _compile(command: list[str], flags: tuple[str, ...], source: Path, target: Path) -> str | None:
    """Compile ``source`` into ``target`` (through a temporary file, renamed): None, or the
    compiler's error."""
    fd, tmp = tempfile.mkstemp(suffix=target.suffix, prefix=f".{target.stem}-", dir=target.parent)
    os.close(fd)
    try:
        try:
            result = subprocess.run(
                [*command, *flags, str(source), "-o", tmp, *LIBS], capture_output=True, text=True, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return f"no result after {TIMEOUT_S} s"
        if result.returncode != 0:
            return first_error(result.stderr)
        try:
            os.replace(tmp, target)
        except OSError:  # another process built it first and has it loaded (Windows)
            if not target.exists():
                raise
        return None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(name: str) -> ctypes.CDLL:
    """The library built from ``<name>.c`` in this package, building it first where needed
    (a second or two; concurrent builds are safe)."""
    if name in _LOADED:
        return _LOADED[name]
    source = SOURCES / f"{name}.c"
    command = compiler()
    code = b"".join(path.read_bytes() for path in [source, *sorted(SOURCES.glob("*.h"))])  # and what it includes
    key = repr((compiler_identity(command), NATIVE, FLAGS, LIBS, sys.platform, cpu_signature())).encode()
    suffix = ".dll" if sys.platform == "win32" else ".so"
    target = cache_dir() / f"{name}-{hashlib.sha256(code + key).hexdigest()[:16]}{suffix}"
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            error = _compile(command, NATIVE + FLAGS, source, target)
            if error is not None and _compile(command, FLAGS, source, target) is not None:
                raise PixelarError(
                    f"building the native kernel {name} with {' '.join(command)} failed ({error}); fix the compiler "
                    f"or $CC, {INSTEAD}",
                    param="method",
                )
        _LOADED[name] = ctypes.CDLL(str(target))
    except OSError as exc:
        raise PixelarError(
            f"the native kernel {name} could not be built or loaded in {target.parent} ({exc.strerror or exc}): "
            f"point ${ENV_VAR} at a writable directory on a disk that allows running code, {INSTEAD}",
            param="method",
        ) from None
    return _LOADED[name]
