"""Shared fixtures: each lives in tests/fixtures/<name>.py, owned by one area."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.provider",
]
