"""Configuration read on every request (purposes, policies, the tracking plan, jurisdictions),
kept per process and checked against one version token (`hub.config.cache`)."""
