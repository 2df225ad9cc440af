"""The only code that speaks ``livekit-api``: connect, read live state, write changes."""
