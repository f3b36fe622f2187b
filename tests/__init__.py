"""The test suite: a package, so its shared helpers import as `tests.<module>` from the
project root (pytest puts the root on the path: `pythonpath` in pyproject.toml)."""
