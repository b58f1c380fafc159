"""Install the durable_rules engine (2.0.28) into the running Python.

durable-rules 2.0.28 is the last release (2020). Its C extension calls PyEval_CallObject, which
CPython 3.13 removed, so on 3.13 the released package builds but fails at import. The upstream fix
(jruizgit/rules PR #403, merged 2025-07-15, never released) renames that call to PyObject_CallObject.
On 3.13 this script downloads the PyPI sdist, checks its SHA-256, applies that one-line fix and builds
it; on 3.11 and 3.12 it installs the released package unchanged. Other versions are refused with a
clear message.

Usage: python scripts/install_engine.py
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "2.0.28"
SDIST = f"durable_rules-{VERSION}.tar.gz"
SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"
SUPPORTED = ((3, 11), (3, 12), (3, 13))


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def already_importable() -> bool:
    probe = "import durable.engine, durable_rules_engine; import importlib.metadata as m; print(m.version('durable-rules'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return result.returncode == 0 and result.stdout.strip() == VERSION


def install_patched() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pip("download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", tmp, f"durable-rules=={VERSION}")
        sdist = Path(tmp) / SDIST
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            sys.exit(f"error: {SDIST} has SHA-256 {digest}, expected {SDIST_SHA256}; refusing to build it")
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        source = Path(tmp) / f"durable_rules-{VERSION}" / "src" / "rulespy" / "rules.c"
        text = source.read_text()
        if "PyEval_CallObject" not in text:
            sys.exit(f"error: {source.name} no longer calls PyEval_CallObject; the patch does not apply")
        source.write_text(text.replace("PyEval_CallObject", "PyObject_CallObject"))
        pip("install", "--quiet", str(source.parents[2]))


def main() -> None:
    version = sys.version_info[:2]
    if version not in SUPPORTED:
        names = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED)
        sys.exit(
            f"error: compliance supports Python {names}; this is {version[0]}.{version[1]}. "
            f"durable-rules {VERSION} (the rules engine) is not known to build or import here."
        )
    if already_importable():
        return
    if version >= (3, 13):
        print(f"Building durable-rules {VERSION} with the upstream Python 3.13 fix (PR #403)...")
        install_patched()
    else:
        pip("install", "--quiet", f"durable-rules=={VERSION}")
    if not already_importable():
        sys.exit(f"error: durable-rules {VERSION} was installed but does not import; see the output above")


if __name__ == "__main__":
    main()
