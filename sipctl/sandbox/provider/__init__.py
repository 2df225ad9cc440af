"""A loopback SIP trunk provider for tests and demos: Kamailio edge + SIPp callee.

See :mod:`sipctl.sandbox.provider.launcher`; run one in the foreground with
``python -m sipctl.sandbox.provider [--workdir DIR]``.
"""

from sipctl.sandbox.provider.launcher import (
    DEFAULT_PASSWORD,
    DEFAULT_REALM,
    DEFAULT_USER,
    NUMBERS,
    Provider,
    ProviderError,
    free_port,
    missing_binaries,
    sip_options,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_REALM",
    "DEFAULT_USER",
    "NUMBERS",
    "Provider",
    "ProviderError",
    "free_port",
    "missing_binaries",
    "sip_options",
]
