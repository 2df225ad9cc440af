"""sipctl: declarative management of LiveKit SIP trunks, with test calls."""

__version__ = "0.1.0"
