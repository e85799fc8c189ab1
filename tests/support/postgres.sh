#!/usr/bin/env bash
# A private PostgreSQL cluster for the compatibility tests: DATA_DIR, loopback PORT, database
# `prefect`, trust auth for user `postgres` on 127.0.0.1 only. Runs in the foreground until it
# gets SIGINT/SIGTERM (the harness runs it under supervise.py, which stops its process group),
# then shuts the cluster down fast and removes DATA_DIR.
#
# usage: postgres.sh DATA_DIR PORT
# Prints "pf-postgres: ready" once the database accepts connections, or
# "pf-postgres: unavailable: WHY" and exits 3 when PostgreSQL is not installed and cannot be
# (installing needs root and Debian's apt: `apt-get install -y postgresql`).
set -uo pipefail
dir=${1:?usage: postgres.sh DATA_DIR PORT}
port=${2:?usage: postgres.sh DATA_DIR PORT}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bindir)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "pf-postgres: installing Debian's postgresql" >&2
        # One installer at a time, across test processes.
        exec 9>/tmp/pf-postgres-install.lock
        flock 9
        if [ -z "$(bindir)" ]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        fi
        flock -u 9
    fi
fi
bin=$(bindir)
if [ -z "$bin" ]; then
    echo "pf-postgres: unavailable: PostgreSQL is not installed and cannot be installed here (needs root and apt-get: apt-get install -y postgresql)"
    exit 3
fi

# initdb and postgres refuse to run as root: as root, run them as the `postgres` user the
# Debian package creates.
as_owner=()
if [ "$(id -u)" = 0 ]; then
    as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
chmod 700 "$dir"
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log"; echo "pf-postgres: unavailable: initdb failed"; exit 3; }

"${as_owner[@]}" "$bin/postgres" -D "$dir/data" -p "$port" -h 127.0.0.1 -k "$dir" \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 &
pid=$!
stop() {
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    rm -rf "$dir"
    exit 0
}
trap stop INT TERM

for _ in $(seq 1 240); do
    if "$bin/pg_isready" -q -U postgres -h 127.0.0.1 -p "$port"; then
        "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres prefect \
            || { echo "pf-postgres: unavailable: createdb failed"; stop; }
        echo "pf-postgres: ready"
        break
    fi
    kill -0 "$pid" 2>/dev/null || { echo "pf-postgres: unavailable: postgres exited"; rm -rf "$dir"; exit 3; }
    sleep 0.25
done
wait "$pid"
rm -rf "$dir"
