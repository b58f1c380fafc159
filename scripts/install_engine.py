"""Build and install the durable_rules engine (2.0.28) with two fixes, into the running Python.

durable-rules 2.0.28 is the last release (2020) and ships only as source. This script downloads that
source distribution from PyPI, checks its SHA-256, applies two small fixes and builds it as version
2.0.28+compliance.1 (which still satisfies the project's "durable-rules==2.0.28" requirement):

1. Python 3.13 removed PyEval_CallObject, so the released extension fails to import there; the
   upstream fix (jruizgit/rules PR #403, merged 2025-07-15, never released) calls PyObject_CallObject,
   which every supported Python has.
2. A memory-safety defect: when a join test (a condition comparing two facts) is false, the engine's
   reduceExpressionSequence skips to the end of the condition starting one entry too far, and so
   reads past the end of the condition list until it meets a byte that looks like its end marker.
   The answer stays right, but the read runs through uninitialised memory and can crash the process
   (seen: a segmentation fault on a few hundred evidence records). The fix scans from the current
   position and stops at the list's length.

compliance refuses to run on an engine without these fixes (its version lacks "+compliance").

Usage: python scripts/install_engine.py [--force]
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "2.0.28"
BUILD = f"{VERSION}+compliance.1"
SDIST = f"durable_rules-{VERSION}.tar.gz"
SDIST_SHA256 = "053b26f5e48d312d4fa27995243f954671be6eece477f150c059c364eb4d7d61"
SUPPORTED = ((3, 11), (3, 12), (3, 13))

#: (file in the sdist, text to replace, replacement); each must match exactly once.
PATCHES = [
    ("src/rulespy/rules.c", "PyEval_CallObject(", "PyObject_CallObject("),
    (
        "src/rules/events.c",
        """            while (currentExpression->operator != OP_END) {
                ++*i;
                currentExpression = &exprs->expressions[*i];
            }
            return RULES_OK;""",
        """            while (*i < exprs->length && exprs->expressions[*i].operator != OP_END) {
                ++*i;
            }
            return RULES_OK;""",
    ),
    ("setup.py", f"version = '{VERSION}'", f"version = '{BUILD}'"),
]


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def installed_build() -> str | None:
    probe = "import durable.engine, durable_rules_engine, importlib.metadata as m; print(m.version('durable-rules'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def build_and_install() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pip("download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", tmp, f"durable-rules=={VERSION}")
        sdist = Path(tmp) / SDIST
        digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
        if digest != SDIST_SHA256:
            sys.exit(f"error: {SDIST} has SHA-256 {digest}, expected {SDIST_SHA256}; refusing to build it")
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp, filter="data")
        source = Path(tmp) / f"durable_rules-{VERSION}"
        for name, old, new in PATCHES:
            path = source / name
            text = path.read_text()
            count = text.count(old)
            if count == 0 or (count > 1 and name != "src/rulespy/rules.c"):
                sys.exit(f"error: the fix for {name} does not apply (found {count} matches); the sdist changed")
            path.write_text(text.replace(old, new))
        pip("install", "--quiet", "--force-reinstall", "--no-deps", str(source))


def main() -> None:
    version = sys.version_info[:2]
    if version not in SUPPORTED:
        names = ", ".join(f"{major}.{minor}" for major, minor in SUPPORTED)
        sys.exit(
            f"error: compliance supports Python {names}; this is {version[0]}.{version[1]}. "
            f"durable-rules {VERSION} (the rules engine) is not known to build or import here."
        )
    if installed_build() == BUILD and "--force" not in sys.argv:
        return
    print(f"Building durable-rules {BUILD} (durable-rules {VERSION} with two fixes, see scripts/install_engine.py)...")
    build_and_install()
    if installed_build() != BUILD:
        sys.exit(f"error: durable-rules {BUILD} was built but does not import; see the output above")


if __name__ == "__main__":
    main()
