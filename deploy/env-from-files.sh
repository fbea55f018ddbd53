#!/bin/sh
# The entrypoint of every GMGBD container (deploy/docker-compose.yaml): for each variable NAME_FILE that names a
# file (a compose or Kubernetes secret mounted read-only), export NAME with the file's content, then exec the
# command. Secrets so reach the processes by environment, never on a command line that `ps` shows to every user,
# and never in the compose file itself. The same pattern as the postgres image's POSTGRES_PASSWORD_FILE.
set -eu
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=.*/\1/p'); do
    eval "path=\${${name}_FILE:-}"
    [ -n "$path" ] || continue
    if [ ! -r "$path" ]; then
        echo "env-from-files: ${name}_FILE names $path, which cannot be read" >&2
        exit 1
    fi
    value=$(cat "$path")
    export "$name=$value"
    unset "${name}_FILE"
done
exec "$@"
