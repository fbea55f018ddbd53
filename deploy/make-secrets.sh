#!/bin/sh
# Writes the secrets deploy/docker-compose.yaml reads, into DIR (default ./secrets, created 0700): one random
# password for Postgres and one for Redis, and the DSN and URLs that carry them. Run once, before
# `docker compose up`; keep DIR out of version control. Files are 0640: give their group to the containers' user
# (10001) or the redis/postgres images' users if those cannot read them.
set -eu
dir=${1:-./secrets}
umask 077
mkdir -p "$dir"
pg=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
redis=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s' "$pg" > "$dir/postgres_password"
printf '%s' "host=postgres port=5432 user=gmgbd password='$pg' dbname=lake" > "$dir/ducklake_catalog"
printf '%s' "postgresql+psycopg2://gmgbd:$pg@postgres:5432/dagster" > "$dir/dagster_postgres_url"
printf '%s' "redis://gmgbd:$redis@redis:6379/0" > "$dir/celery_broker"
printf '%s' "redis://gmgbd:$redis@redis:6379/1" > "$dir/rate_limit_url"
# Redis's ACL: the default user (no password) off, one user with every right the broker and the budgets need.
printf 'user default off resetpass -@all\nuser gmgbd on >%s ~* &* +@all\nsave 60 1\n' "$redis" > "$dir/redis_conf"
chmod 0640 "$dir"/*
echo "secrets written to $dir"
