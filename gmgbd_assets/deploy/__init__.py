"""The deployment past one machine, run on one machine: local Postgres and Redis, Celery workers, the daemon.

``services`` starts and stops the processes by PID; ``instance`` writes the configuration they share;
``demo`` is ``make demo-distributed``; ``benchmark`` times the sample backfill with one and with two workers.
"""
