"""Celery settings of every GMGBD worker: ``celery -A dagster_celery.app worker`` imports this module when it is
on PYTHONPATH (``deploy/``). The broker is the same ``GMGBD_CELERY_BROKER`` the executor submits to."""

from gmgbd_assets.core.settings import Settings

_settings = Settings.from_env()
broker_url = _settings.celery_broker
result_backend = _settings.celery_backend
# One step at a time per worker process, taken only when it can start: a long caption step never holds back
# a queue of short ones on the same worker.
worker_prefetch_multiplier = 1
