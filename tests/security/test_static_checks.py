"""Every silenced bandit finding in the apps says why (`# nosec BXXX  # reason`)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

APPS = ("hub", "audit", "consent", "profiles", "tasks")
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")


def test_every_nosec_names_its_test_and_gives_a_reason():
    unexplained = []
    for app in APPS:
        for path in sorted((Path(settings.BASE_DIR) / app).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                found = NOSEC.search(line)
                if found is None:
                    continue
                named = re.match(r"\s+B\d{3}(,\s*B\d{3})*\s+#\s*\S.{10,}", found.group("rest"))
                if named is None:
                    unexplained.append(f"{path.relative_to(settings.BASE_DIR)}:{number}")
    assert not unexplained, f"a bare nosec: {unexplained}"
