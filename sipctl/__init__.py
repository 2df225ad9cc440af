"""sipctl: declarative management of LiveKit SIP trunks, with test calls."""

__version__ = "0.2.0"
