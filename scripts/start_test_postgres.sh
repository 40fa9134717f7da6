#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the zoo's distributed-tuning test.
# Usage: eval "$(bash scripts/start_test_postgres.sh)"   -> exports SB3_MARL_TEST_POSTGRES_URL, and
# SB3_MARL_TEST_POSTGRES_STOP, a command that stops the server and removes its data folder
# Where PostgreSQL is installed (or installed here with apt) it also exports SB3_MARL_REQUIRE_POSTGRES=1: the test
# then fails, not skips, when the server did not start. When PostgreSQL cannot be installed it prints the reason on
# stderr, exports nothing and exits 0 (the test skips and says why).  Runs as root (CI) or as any user that
# may start postgres; as root the server runs as the `postgres` user, since postgres refuses to run as root.
set -uo pipefail
free_port() { "${PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="${SB3_MARL_TEST_POSTGRES_PORT:-$(free_port)}"
DB=sb3_marl_test
say() { echo "start_test_postgres: $*" >&2; }

find_bin() {  # directory holding initdb/pg_ctl (Debian keeps them outside PATH)
    local d
    for d in "$(dirname "$(readlink -f "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")")" \
            /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/createdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

BIN="$(find_bin)"
if [ -z "$BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2 \
        || say "apt-get install postgresql failed"
    BIN="$(find_bin)"
fi
[ -n "$BIN" ] || { say "PostgreSQL is not installed and could not be installed; skipping"; exit 0; }
echo "export SB3_MARL_REQUIRE_POSTGRES=1"  # installed: a server that does not start below fails the test

RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres >&2 2>/dev/null
    RUN_AS=(runuser -u postgres --)
fi
DATA="$(mktemp -d /tmp/sb3_marl_pg.XXXXXX)"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
STOP="${RUN_AS[*]} $BIN/pg_ctl -D $DATA/data -m fast stop"
give_up() {  # say why, show the log, leave nothing behind (no server, no data folder); the test then fails
    say "$1"
    [ -f "$DATA/$2" ] && sed 's/^/  /' "$DATA/$2" | tail -n 20 >&2
    [ "$2" = server.log ] && $STOP >/dev/null 2>&1
    rm -rf "$DATA"
    exit 0
}
"${RUN_AS[@]}" "$BIN/initdb" -D "$DATA/data" -U postgres --auth=trust >"$DATA/initdb.log" 2>&1 \
    || give_up "initdb failed" initdb.log
"${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DATA/data" -l "$DATA/server.log" -w -t 30 -o "-h 127.0.0.1 -p $PORT -k $DATA" \
    start >&2 || give_up "the server did not start" server.log
"${RUN_AS[@]}" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2 || give_up "createdb failed" server.log
say "server on 127.0.0.1:$PORT, data in $DATA"
echo "export SB3_MARL_TEST_POSTGRES_URL=postgresql+psycopg2://postgres@127.0.0.1:$PORT/$DB"
echo "export SB3_MARL_TEST_POSTGRES_STOP='$STOP; rm -rf $DATA'"
