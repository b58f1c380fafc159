"""compliance: check that suppliers keep the human-rights conditions of public electronics contracts."""

__version__ = "0.1.0"
