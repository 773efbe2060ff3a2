#!/usr/bin/env python
"""Django's command-line utility for the hub."""

import os
import sys


def main() -> None:
    # production unless told otherwise: a forgotten variable must not mean DEBUG (invariant 30)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.production")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
