"""Issue 21, item 3: the deployment in `deploy/` and the `Procfile` start a working hub.

The stack is started from the files themselves: each systemd unit's Environment=, EnvironmentFile=,
WorkingDirectory=, ExecStartPre= and ExecStart= lines (specifiers and `${VAR}` expanded as systemd
does), and each Procfile line through a shell, as honcho and foreman run it. The environment file is
`deploy/hub.env.example` with its blanks filled for this machine: a fresh database on the system
PostgreSQL, migrated by the migrate step as the owner and then served as an application role with
exactly the documented GRANTs (production settings check it), and a Redis database of its own. The
hub must answer `/healthz` with 200, accept an event through the API, and the projections worker must
project it; SIGTERM (systemd's stop) then ends every process it started. Containers cannot run on this
machine: the Containerfile and compose.yaml are only read.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import psutil
import pytest
import redis
import yaml
from django.conf import settings
from django.core.management import get_commands

from hub.checks import RECORD_DECLARATIONS
from hub.crypto import new_secret
from tests.audit.test_append_only import documented_grants
from tests.databases import Database, fresh_database, server_conninfo
from tests.e2e.conftest import free_port, http, wait_until

pytestmark = [pytest.mark.e2e]

ROOT = Path(settings.BASE_DIR)
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
VENV_BIN = Path(sys.executable).parent
QUEUES = set(settings.CELERY_TASK_QUEUES)
ROLES = ("web", "worker", "beat")


# --- reading the files as systemd and a Procfile runner do ---------------------------------------
def unit_read(name: str) -> dict[str, list[str]]:
    """`Key=value` lines of a unit, every section merged (a key may repeat: Environment=, Wants=)."""
    lines: dict[str, list[str]] = {}
    text = (UNITS / name).read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            lines.setdefault(key.strip(), []).append(value.strip())
    return lines


def procfile_read() -> dict[str, str]:
    pattern = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")  # honcho's and foreman's
    return dict(
        m.groups() for line in (ROOT / "Procfile").read_text().splitlines() if (m := pattern.match(line))
    )


def env_file_read(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def systemd_words(line: str, *, instance: str = "", env: dict[str, str] | None = None) -> list[str]:
    """A command line as systemd runs it: prefixes dropped, %i/%H/%% specifiers, `${VAR}` one word,
    `$VAR` split at whitespace (systemd.service(5), "Command lines")."""
    line = line.lstrip("-@:+!")
    line = re.sub(r"%([iH%])", lambda m: {"i": instance, "H": socket.gethostname(), "%": "%"}[m[1]], line)
    words = []
    for word in shlex.split(line):
        if env is not None and re.fullmatch(r"\$[A-Za-z_]\w*", word):
            words += env.get(word[1:], "").split()
        elif env is not None:
            words.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), word))
        else:
            words.append(word)
    return words


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def target_queues() -> set[str]:
    wants = " ".join(unit_read("hub.target")["Wants"]).split()
    return {m[1] for unit in wants if (m := re.fullmatch(r"hub-worker@(\w+)\.service", unit))}


# --- static checks ---------------------------------------------------------------------------------
def _names_existing_code(words: list[str]) -> None:
    program = Path(words[0]).name
    assert program in {"python", "gunicorn", "celery", "kill"}, words
    if program != "kill":
        assert (VENV_BIN / program).exists(), f"{program} is not installed in the virtualenv"
    if program == "python":
        assert words[1] == "manage.py" and words[2] in get_commands(), words
    if program == "gunicorn":
        assert find_spec(words[1]) and words[1] == "hub.wsgi", words
        config = option(words, "--config")
        assert config.startswith("python:") and find_spec(config.removeprefix("python:")), words
    if program == "celery":
        assert option(words, "-A") == "hub" and find_spec("hub.celery") and words[3] in {"worker", "beat"}, (
            words
        )


def test_every_command_in_the_units_and_the_procfile_names_existing_code():
    for unit in UNITS.glob("*.service"):
        lines = unit_read(unit.name)
        for key in ("ExecStartPre", "ExecStart", "ExecReload"):
            for line in lines.get(key, []):
                words = systemd_words(line, instance="celery", env={})
                assert words[0].startswith(("/opt/hub/.venv/bin/", "/bin/")), (unit.name, words)
                _names_existing_code(words)
        assert lines["WorkingDirectory"] == ["/opt/hub"], unit.name
    for command in procfile_read().values():
        _names_existing_code(shlex.split(command))


def _required_by_production() -> set[str]:
    """What production settings cannot start without: environment reads with no default (unless
    only read when present), what production.py insists on, and the declarations hub.E002 checks."""
    source = "\n".join(
        (ROOT / "hub" / "settings" / name).read_text() for name in ("base.py", "production.py")
    )
    no_default, optional, insisted = set(), set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            name = getattr(node.args[0], "value", None)
            if getattr(node.func.value, "id", "") == "env" and isinstance(name, str):
                defaulted = any(keyword.arg == "default" for keyword in node.keywords)
                (optional if defaulted else no_default).add(name)
        if isinstance(node, ast.Compare) and getattr(node.comparators[0], "id", "") == "env":
            name = getattr(node.left, "value", "")
            (optional if isinstance(node.ops[0], ast.In) else insisted).add(name)
    return (no_default - optional) | insisted | set(RECORD_DECLARATIONS)


def test_the_env_example_names_every_setting_production_requires():
    example = env_file_read(DEPLOY / "hub.env.example")
    required = _required_by_production()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "HUB_KEK", "EMAIL_URL", "HUB_DPO_CONTACT"} <= required
    assert required <= set(example), required - set(example)
    # production runs on Redis, with a shared cache, and the units' writable paths are the env's
    assert example["CELERY_BROKER_URL"].startswith("redis://") and example["CACHE_URL"].startswith("redis://")
    # secrets and declarations ship empty: the hub refuses to start until they are filled in
    assert not any(example[name] for name in ("DJANGO_SECRET_KEY", "HUB_KEK", "HUB_LEDGER_SIGNING_KEY"))
    assert not any(example[name] for name in RECORD_DECLARATIONS)
    for unit in ("hub-web.service", "hub-worker@.service"):
        writable = unit_read(unit)["ReadWritePaths"]
        assert example["HUB_EXPORT_ROOT"] in writable, unit
        state = ["/var/lib/" + d for d in unit_read(unit)["StateDirectory"][0].split()]
        assert Path(example["HUB_ERASURE_LOG"]).parent.as_posix() in state, unit


def test_the_units_are_hardened_and_started_together():
    for unit in ("hub-web.service", "hub-worker@.service", "hub-beat.service", "hub-migrate.service"):
        lines = unit_read(unit)
        assert lines["User"] == ["hub"] and lines["NoNewPrivileges"] == ["yes"], unit
        assert lines["ProtectSystem"] == ["strict"] and lines["PrivateTmp"] == ["yes"], unit
        assert lines["EnvironmentFile"][0] == "/etc/hub/hub.env", unit
        assert "hub.target" in lines["WantedBy"] and "hub.target" in lines["PartOf"], unit
        if unit != "hub-migrate.service":
            assert lines["Restart"] == ["on-failure"] and "hub-migrate.service" in lines["After"][0], unit
    assert unit_read("hub-migrate.service")["EnvironmentFile"][1] == "/etc/hub/migrate.env"


def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify`: every directive known and well-formed, every command executable
    (the units' /opt/hub paths moved to this checkout)."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed here")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/hub/.venv/bin", str(VENV_BIN)).replace("/opt/hub", str(ROOT))
        (tmp_path / unit.name.replace("@.", "@celery.")).write_text(text)
    done = subprocess.run(  # noqa: S603
        [analyze, "verify", "--man=no", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr.decode()


def test_the_procfile_and_the_units_agree():
    procfile = procfile_read()
    assert set(procfile) == {"release", *ROLES}
    units = {
        "release": unit_read("hub-migrate.service")["ExecStart"][0],
        "web": unit_read("hub-web.service")["ExecStart"][0],
        "worker": unit_read("hub-worker@.service")["ExecStart"][0],
        "beat": unit_read("hub-beat.service")["ExecStart"][0],
    }
    for role, line in units.items():
        ours, theirs = systemd_words(line, instance="celery", env={}), shlex.split(procfile[role])
        assert Path(ours[0]).name == theirs[0], role
        # the same program, module and sub-command (what follows the options may differ: bind, pool)
        assert ours[1:4] == theirs[1:4], (role, ours, theirs)
    # one worker per queue (the target), or one worker for them all (the Procfile): every queue
    assert target_queues() == QUEUES
    assert set(option(shlex.split(procfile["worker"]), "--queues").split(",")) == QUEUES
    assert option(systemd_words(units["worker"], instance="webhooks", env={}), "--queues") == "webhooks"


def test_the_image_and_compose_file_are_conventional():
    containerfile = (DEPLOY / "Containerfile").read_text()
    assert "FROM python:3.11-slim" in containerfile
    assert "--require-hashes -r requirements.lock" in containerfile and "collectstatic" in containerfile
    assert re.search(r"^USER hub$", containerfile, re.M) and '"gunicorn", "hub.wsgi"' in containerfile
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert services["migrate"]["restart"] == "no" and services["migrate"]["command"][-2] == "migrate"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert set(option(services["worker"]["command"], "--queues").split(",")) == QUEUES


# --- the stack, started from the files ----------------------------------------------------------
@dataclass
class Deployment:
    tmp: Path
    database: Database
    app_role: str
    app_url: str
    broker: str
    web_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    process_groups: set[str] = field(default_factory=set)  # signalled as a group (Procfile runners)

    def paths(self, text: str) -> str:
        """The units' absolute paths, moved under this test's directory and virtualenv."""
        for ours, here in (
            ("/opt/hub/.venv/bin", str(VENV_BIN)),
            ("/opt/hub", str(ROOT)),
            ("/etc/hub", str(self.tmp / "etc")),
            ("/var/lib/hub", str(self.tmp / "state")),
            ("/run/hub", str(self.tmp / "run")),
        ):
            text = text.replace(ours, here)
        return text

    def write_env_files(self) -> None:
        """deploy/hub.env.example with its blanks filled for this machine (as the guide says)."""
        values = env_file_read(DEPLOY / "hub.env.example")
        values |= {name: "none" for name in RECORD_DECLARATIONS} | {
            "HUB_CONTROLLER_NAME": "Deploy Test Ltd", "HUB_CONTROLLER_CONTACT": "privacy@deploy.test",
            "HUB_CONTROLLER_COUNTRY": "FR", "HUB_SUPERVISORY_AUTHORITY": "CNIL", "HUB_DPO_CONTACT": "dpo@deploy.test",
            "DJANGO_SECRET_KEY": new_secret(), "HUB_KEK": new_secret(), "HUB_LEDGER_SIGNING_KEY": new_secret(),
            "HUB_IDENTIFIER_PEPPER": new_secret(), "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.app_url, "CELERY_BROKER_URL": self.broker, "CACHE_URL": self.broker,
            "EMAIL_URL": "smtp://127.0.0.1:9", "HUB_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "HUB_WEB_BIND": f"127.0.0.1:{self.web_port}", "WEB_CONCURRENCY": "1",
            "HUB_LOG_ROUTINE": "true",  # the workers' logs then say which tasks each one ran
            "HUB_BEAT_SCHEDULE": self.paths("/var/lib/hub/celerybeat-schedule"),
        }  # fmt: skip
        values = {key: self.paths(value) for key, value in values.items()}
        for directory in ("etc", "state/exports", "run/metrics", "home"):
            (self.tmp / directory).mkdir(parents=True, exist_ok=True)
        (self.tmp / "etc" / "hub.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        (self.tmp / "etc" / "migrate.env").write_text(f"DATABASE_URL={self.database.url()}\n")
        # a solo pool keeps the five workers at one process each on this small machine
        for queue in QUEUES:
            (self.tmp / "etc" / f"worker-{queue}.env").write_text(
                "HUB_WORKER_POOL=solo\nHUB_WORKER_CONCURRENCY=1\n"
            )

    def unit_env(self, lines: dict[str, list[str]], instance: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.tmp / "home"),
            "LANG": "C.UTF-8",
        }
        for assignments in lines.get("Environment", []):
            env |= dict(
                self.paths(word).split("=", 1) for word in systemd_words(assignments, instance=instance)
            )
        for path in lines.get("EnvironmentFile", []):
            file = Path(self.paths(systemd_words(path, instance=instance)[0].lstrip("-")))
            if file.exists() or not path.startswith("-"):
                env |= env_file_read(file)
        return env

    def unit_start(self, name: str, instance: str = "") -> None:
        lines = unit_read(name.replace(f"@{instance}.", "@.") if instance else name)
        env, cwd = self.unit_env(lines, instance), self.paths(lines["WorkingDirectory"][0])
        argv = [[self.paths(w) for w in systemd_words(line, instance=instance, env=env)] for line in
                lines.get("ExecStartPre", []) + lines["ExecStart"]]  # fmt: skip
        for pre in argv[:-1]:
            done = subprocess.run(pre, cwd=cwd, env=env, capture_output=True, timeout=300)  # noqa: S603
            assert done.returncode == 0, (pre, done.stdout.decode()[-3000:], done.stderr.decode()[-3000:])
        self.spawn(name, argv[-1], cwd=cwd, env=env)
        if lines.get("Type") == ["oneshot"]:
            assert self.processes.pop(name).wait(300) == 0, self.log(name)

    def procfile_start(self, role: str, **override: str) -> None:
        env = {"PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(self.tmp / "home"),
               "PORT": str(self.web_port), "LANG": "C.UTF-8"}  # fmt: skip
        env |= env_file_read(self.tmp / "etc" / "hub.env") | override
        self.spawn(role, ["/bin/sh", "-c", procfile_read()[role]], cwd=str(ROOT), env=env)
        self.process_groups.add(role)
        if role == "release":
            assert self.processes.pop(role).wait(300) == 0, self.log(role)

    def spawn(self, name: str, argv: list[str], *, cwd: str, env: dict[str, str]) -> None:
        with (self.tmp / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - the deploy files' own commands
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-5000:]

    def grant_app_role(self) -> None:
        """docs/DEPLOYMENT.md's GRANT block, run by the owner once the tables exist."""
        with self.database.connect(autocommit=True) as conn:
            for statement in documented_grants(self.app_role):
                conn.execute(statement)  # type: ignore[arg-type]

    def healthy(self) -> bool:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"
        try:
            return http("GET", f"http://127.0.0.1:{self.web_port}/healthz", timeout=5)[0] == 200
        except OSError:
            return False

    def stop(self) -> list[str]:
        """`systemctl stop` (KillMode=mixed: SIGTERM to the main process) or honcho's and foreman's
        stop (SIGTERM to the process group); what still runs 60 s later is named, then killed."""
        everything = []
        running = {name: process for name, process in self.processes.items() if process.poll() is None}
        self.processes = {}
        for name, process in running.items():
            top = psutil.Process(process.pid)
            everything += [top, *top.children(recursive=True)]
            if name in self.process_groups:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.send_signal(signal.SIGTERM)
        for process in running.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        # like systemd, which waits for every process of the unit's cgroup, not only the main one
        psutil.wait_procs(everything, timeout=60)
        left = []
        for process in everything:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    left.append(" ".join(process.cmdline()))
                    process.kill()
            except psutil.NoSuchProcess:
                continue
        return left


def _redis_url() -> str:
    """A Redis database of this test's own (another than the suite's broker), emptied first."""
    url = os.environ.get("HUB_DEPLOY_TEST_REDIS_URL", "")
    if not url:
        suite = os.environ.get("CELERY_BROKER_URL", "")
        url = re.sub(r"/\d*$", "/14", suite) if suite.startswith("redis") else "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.RedisError as error:
        pytest.skip(f"the deployment test needs a Redis server ({url}): {error}")
    return url


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    for program in ("gunicorn", "celery"):
        if not (VENV_BIN / program).exists():
            pytest.skip(f"{program} is not installed in {VENV_BIN}: the deployment test starts it")
    broker = _redis_url()
    role, password = f"hub_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with fresh_database(prefix="hub_deploy") as database:
        with database.connect(autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")  # type: ignore[arg-type]
        app = Database({**database.conninfo, "user": role, "password": password})
        hub = Deployment(tmp_path, database, role, app.url(), broker)
        hub.write_env_files()
        try:
            yield hub
        finally:
            left = hub.stop()
            redis.Redis.from_url(broker).flushdb()
    # the database, and with it every GRANT to the role, is gone: the role can go too
    with Database(server_conninfo("postgres")).connect(autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")  # type: ignore[arg-type]
    assert not left, f"processes left behind after SIGTERM: {left}"


def _event_round_trip(hub: Deployment, key: str) -> dict:
    """An event through the API, behind the TLS proxy production expects; its profile read back."""
    base = f"http://127.0.0.1:{hub.web_port}"
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-Proto": "https"}
    batch = [{"message_id": f"deploy-{n}", "type": "page", "user_id": "deploy-visitor-7", "purpose": "essential"}
             for n in range(3)]  # fmt: skip
    status, _, answer = http("POST", f"{base}/api/v1/events", {"batch": batch}, headers=headers)
    assert status == 200 and {r["status"] for r in answer["results"]} == {"accepted"}, answer

    def projected() -> dict | None:
        profile = http("GET", f"{base}/api/v1/profiles?user_id=deploy-visitor-7", headers=headers)[2] or {}
        views = profile.get("aggregates", {}).get("essential", {}).get("page_views")
        return profile if views == 3 else None

    return wait_until(projected, timeout=90, interval=1)  # type: ignore[return-value]


def _service_key(hub: Deployment, env: dict[str, str]) -> str:
    """`manage.py create_service`, as the guide registers the first service, with the app's env."""
    done = subprocess.run(  # noqa: S603
        [str(VENV_BIN / "python"), "manage.py", "create_service", "--name", "shop", "--purpose", "essential",
         "--scope", "events:write", "--scope", "profiles:read"],
        cwd=ROOT, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return done.stdout.decode().strip().splitlines()[-1]


def test_the_systemd_units_start_a_hub_that_collects_and_projects(deployment):
    hub = deployment
    hub.unit_start("hub-migrate.service")  # as the owner (migrate.env), then the app role's GRANTs
    hub.grant_app_role()
    hub.unit_start("hub-web.service")  # its ExecStartPre: `check --deploy` as the app role
    for queue in sorted(target_queues()):
        hub.unit_start(f"hub-worker@{queue}.service", instance=queue)
    hub.unit_start("hub-beat.service")
    wait_until(hub.healthy, timeout=120, interval=0.5)

    key = _service_key(hub, hub.unit_env(unit_read("hub-web.service"), ""))
    profile = _event_round_trip(hub, key)
    assert profile["aggregates"]["essential"]["page_views"] == 3
    # the projections queue's worker did it, and no other worker took that queue's task
    assert "profiles.project" in hub.log("hub-worker@projections.service")
    assert "profiles.project" not in hub.log("hub-worker@webhooks.service")
    assert hub.stop() == []


def test_the_procfile_starts_a_hub_that_collects_and_projects(deployment):
    hub = deployment
    hub.procfile_start("release", DATABASE_URL=hub.database.url())  # the owner migrates
    hub.grant_app_role()
    for role in ROLES:
        hub.procfile_start(role)
    wait_until(hub.healthy, timeout=120, interval=0.5)

    key = _service_key(hub, {**env_file_read(hub.tmp / "etc" / "hub.env"), "PATH": os.environ["PATH"]})
    assert _event_round_trip(hub, key)["aggregates"]["essential"]["page_views"] == 3
    assert "profiles.project" in hub.log("worker")
    assert hub.stop() == []
