"""sipctl's exit codes: one enum for every command (the README's table lists them).

They are a contract for pipelines: a CI step or a CronJob branches on them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    # sipctl could not do its job: config, connection, credentials, a failed change,
    # a test call that could not be placed (verdict error)
    ERROR = 1
    # plan: there are changes to apply (with --detailed-exitcode style use in CI)
    CHANGES = 2
    # check (and apply's verification dials): a test call failed
    FAILED = 3
    # stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it); calls were hung up
    INTERRUPTED = 130
