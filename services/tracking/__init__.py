"""Tracking for citizens and channels: a case found by its tracking number and PIN."""
