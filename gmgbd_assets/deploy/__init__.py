"""The deployment past one machine, run on one machine: local Postgres and Redis, Celery workers, the daemon.

``services`` starts and stops the processes by PID; ``cluster`` puts them together with the configuration of
``deploy/``; ``demo`` is ``make demo-distributed``; ``compare`` checks that two export folders hold the same data.
"""
