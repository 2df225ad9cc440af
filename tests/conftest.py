"""Shared fixtures (each lives in tests/fixtures/<name>.py, owned by one area) and the
automatic classification of tests for ``./dev test --fast``.

A test is ``integration`` when it uses a fixture that starts the sandbox (or another
server process), and ``sip`` (also ``integration``) when it uses Kamailio and SIPp. The
marks follow from the fixtures a test requests, directly or through other fixtures, so a
new test is classified without anyone remembering to mark it; tests that start processes
by other means carry the mark explicitly. ``./dev test --fast`` runs ``-m "not
integration"``.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.provider",
]

# Fixtures that start a process the fast lane does without (closure: anything built on them).
SIP_FIXTURES = frozenset({"provider", "provider_factory"})
INTEGRATION_FIXTURES = SIP_FIXTURES | {"sandbox", "sandbox_factory", "lkapi"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SIP_FIXTURES or item.get_closest_marker("sip"):
            item.add_marker(pytest.mark.sip)
            item.add_marker(pytest.mark.integration)
        elif used & INTEGRATION_FIXTURES or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
    # The slow kinds first: pytest-xdist hands tests out in this order, so the long ones
    # start early and do not leave one worker busy at the end (a stable sort keeps files
    # together otherwise).
    items.sort(
        key=lambda i: (
            -2 if i.get_closest_marker("sip") else -bool(i.get_closest_marker("integration"))
        )
    )
