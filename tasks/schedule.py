"""The Celery beat schedule (all periodic work in one place)."""

from typing import Any

from celery.schedules import crontab
from django.conf import settings


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        "seal-ledger": {"task": "ledger.seal", "schedule": settings.HUB_SEAL_INTERVAL_SECONDS},
        "worker-heartbeat": {"task": "system.heartbeat", "schedule": 10.0},
        # Daily: retention periods are counted in days and epochs end at midnight UTC, so a
        # daily run is at most a day late; 03:17 UTC is off-peak and off the round hour.
        "enforce-retention": {"task": "consent.enforce_retention", "schedule": crontab(minute=17, hour=3)},
        # DPIA and LIA reviews are due on a date: once a day reminds well within the 30 days.
        "assessment-reviews": {"task": "consent.assessment_reviews", "schedule": crontab(minute=23, hour=6)},
        "retry-webhooks": {"task": "webhooks.retry_due", "schedule": 30.0},
        # Expiry is due at a precise moment (13 months after a consent): look every minute.
        "expire-consents": {"task": "consent.expire_due", "schedule": 60.0},
        # Segment windows are minutes long: close them within seconds of their end.
        "expire-segment-windows": {"task": "segments.expire", "schedule": 5.0},
        # cluster models due for retraining (their interval passed, or an officer asked): each a task
        "retrain-cluster-models": {"task": "clusters.retrain_due", "schedule": crontab(minute="*/5")},
        # Privacy requests: a case whose worker died resumes once its lease lapses; deadlines are
        # days long, so checking them every 15 minutes alerts well within the 7-day window.
        "resume-privacy-requests": {"task": "requests.resume_stalled", "schedule": 30.0},
        "privacy-request-deadlines": {"task": "requests.deadline_alerts", "schedule": crontab(minute="*/15")},
        "purge-privacy-request-data": {"task": "requests.purge", "schedule": crontab(minute=43, hour=3)},
        # Breach register: the authority must be told within 72 hours (Art. 33(1)); a 5-minute check
        # alerts within minutes of an incident coming within 24 hours of its deadline, or passing it.
        "breach-deadlines": {"task": "ledger.incident_alerts", "schedule": crontab(minute="*/5")},
        # Portal: spent sign-in links, ended sessions and old rate-limit counts go hourly.
        "purge-portal": {"task": "portal.purge", "schedule": crontab(minute=7)},
        # Collection: outcomes of events the ledger does not keep are looked up for a few days.
        "purge-collection-outcomes": {
            "task": "collection.purge_outcomes",
            "schedule": crontab(minute=37, hour=3),
        },
        # Profiles follow the ledger closely; an idle run is one advisory lock and one query.
        "project-profiles": {"task": "profiles.project", "schedule": 1.0},
        # Segments follow the profiles (the projector nudges them after each batch it commits).
        "project-segments": {"task": "segments.project", "schedule": 1.0},
        # Outbound streams: outbound HTTP like webhooks, so on their queue (a slow receiver must
        # not hold up projections or the ingest nudges); an idle run is a few queries per stream.
        "stream-events": {"task": "activation.stream", "schedule": 2.0},
    }
