"""compliance: check that suppliers keep the human-rights conditions of public electronics contracts.

The library's front door is ``compliance.api`` (what the command line and any other front end call); the layers
below it are described in the README's "Architecture" section.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("compliance")  # written once, in pyproject.toml
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
