#!/usr/bin/env bash
# The scaled mode's real services, for its tests and for a one-machine deployment: PostgreSQL
# (checkpoints, audit chain, budget ledger) and Redis (Celery's broker), from Debian packages,
# listening on 127.0.0.1 only. Skipped with AGENTSMITH_SKIP_SERVICES=1 (the embedded default
# needs neither). Writes the URLs to $AGENTSMITH_HOME/services.env for the tests and `worker`.
set -euo pipefail
[ "${AGENTSMITH_SKIP_SERVICES:-0}" = 1 ] && { echo "services skipped"; exit 0; }
need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
home="${AGENTSMITH_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/agentsmith}"
mkdir -p "$home/services"

# Redis: a private instance on loopback, no persistence (the queue's truth is Postgres checkpoints)
redis_port=6390
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
    --logfile "$home/services/redis.log" --dir "$home/services"
  for _ in $(seq 1 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# PostgreSQL: a private cluster owned by the postgres user, on loopback, trust auth for local TCP
pg_port=5442
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pgdata="${AGENTSMITH_PGDATA:-/var/lib/agentsmith/pgdata}"   # outside /root: postgres must reach it
if [ ! -s "$pgdata/PG_VERSION" ]; then
  rm -rf "$pgdata"; mkdir -p "$pgdata"; chown postgres "$pgdata"; chmod 700 "$pgdata"
  runuser -u postgres -- "$pgbin/initdb" -D "$pgdata" -A trust -U agentsmith >/dev/null
fi
chown -R postgres "$pgdata"
if ! runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
  touch "$pgdata/../postgres.log"; chown postgres "$pgdata/../postgres.log"
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -w -l "$pgdata/../postgres.log" \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=/tmp -c max_connections=200" start >/dev/null
fi
psql "postgresql://agentsmith@127.0.0.1:$pg_port/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='agentsmith'" \
  | grep -q 1 || psql "postgresql://agentsmith@127.0.0.1:$pg_port/postgres" -qc "CREATE DATABASE agentsmith"
cat > "$home/services.env" <<ENV
AGENTSMITH_DATABASE_URL=postgresql://agentsmith@127.0.0.1:$pg_port/agentsmith
AGENTSMITH_BROKER_URL=redis://127.0.0.1:$redis_port/0
ENV
echo "postgres on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port ($home/services.env)"
