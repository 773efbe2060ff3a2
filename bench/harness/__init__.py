"""What the benchmarks share: facts about the run, the bench database, the raw-PostgreSQL baseline,
writer processes, the real stack (gunicorn + Celery worker) and the reports.

The project's Django code (audit, consent, profiles, tasks) is imported inside functions throughout
`bench`: it can only be imported after `django.setup()`, which a benchmark runs once it has created
its own database and pointed DATABASE_URL at it (`bench.harness.database.use_database`).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
