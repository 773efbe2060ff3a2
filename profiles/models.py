"""Subjects, identifiers and profiles (built in the collection/profiles issue)."""
