"""``python -m sipctl.sandbox``: the sandbox server (same options as ``sipctl sandbox``)."""

from sipctl.sandbox.cli import main

if __name__ == "__main__":
    main()
