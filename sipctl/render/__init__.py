"""Renderers: plans, apply reports and test-call results in text and machine formats."""
