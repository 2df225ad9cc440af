"""Bounds that keep hostile input (alias bombs, deep nesting) from hanging the loader.

Both readers apply them: the fast one (:mod:`sipctl.config.fastyaml`) gives up beyond
them, and the located one (:mod:`sipctl.config.yamlsource`) reports them.
"""

MAX_NODES = 200_000
MAX_DEPTH = 64
