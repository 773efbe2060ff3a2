"""Downstream systems a privacy request acts on: their declarations, checks and signing."""
