"""Load `.env.local` (git-ignored, written by `make run`/`make test`) into the environment.

Values already in the environment win, so CI and deployments can override any of them.
"""

import os
from pathlib import Path

_FILE = Path(__file__).resolve().parent.parent.parent / ".env.local"
if _FILE.exists():
    for _line in _FILE.read_text().splitlines():
        if "=" in _line and not _line.lstrip().startswith("#"):
            _name, _value = _line.split("=", 1)
            os.environ.setdefault(_name.strip(), _value.strip())
