"""Webhook delivery tasks."""
