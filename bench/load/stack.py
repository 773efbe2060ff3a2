"""The load run's stack, started exactly as `make run` starts it, and its dedicated Redis database."""

from __future__ import annotations

from bench.harness.stack import Stack

DEFAULT_REDIS = "redis://127.0.0.1:6379/8"
REDIS_MARK = "hub_bench_load:owner"


class LoadStack(Stack):
    """As `make run` starts it: gunicorn -w 2, a prefork worker (2 processes) and a real beat."""

    def start(self) -> None:
        self._spawn("web", self._gunicorn())
        self._spawn(
            "worker", [self._bin("celery"), "-A", "hub", "worker", "--concurrency", "2", "-l", "warning"]
        )
        schedule = str(self.logdir / "celerybeat-schedule")
        self._spawn("beat", [self._bin("celery"), "-A", "hub", "beat", "-l", "warning", "-s", schedule])


def redis_prepare(url: str) -> None:
    """Flush the dedicated Redis database, unless it holds keys that this benchmark did not put there."""
    import redis

    client = redis.Redis.from_url(url)
    client.ping()
    if client.dbsize() and not client.exists(REDIS_MARK):
        raise RuntimeError(
            f"{url} holds {client.dbsize()} keys that this benchmark did not write: pick another "
            "database number with --redis-url"
        )
    client.flushdb()
    client.set(REDIS_MARK, "bench.load")
