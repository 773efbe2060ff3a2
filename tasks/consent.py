"""Consent tasks: expiry of decisions and retention of purpose data (scheduled by beat)."""
