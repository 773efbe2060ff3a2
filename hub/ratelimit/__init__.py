"""Attempt counters in PostgreSQL, so a limit holds across every web process (portal sign-in and
request forms, the services' API throttles in `hub.throttling`)."""
