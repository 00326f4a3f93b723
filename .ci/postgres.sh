#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the store tests and export ILS_TEST_PG_URL.
# Source it: `. .ci/postgres.sh` (from .ci/run). Installs Debian's postgresql if missing (needs root).
# On failure it prints why and leaves ILS_TEST_PG_URL unset: the PostgreSQL tests skip with a reason
# (.ci/run with CI=true stops instead).

ils_pg_start() {
  local bin port dir user
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null || { echo "postgres: apt-get install failed"; return 1; }
    else
      echo "postgres: not installed and not root"; return 1
    fi
  fi
  bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
  port=${ILS_PG_PORT:-55432}
  dir=$(mktemp -d -t ils-pg.XXXXXX)
  user=$(id -un)
  if [ "$(id -u)" = 0 ]; then user=postgres; chown postgres "$dir"; fi
  local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U ils --auth=trust >"$dir/initdb.log" 2>&1 || { echo "postgres: initdb failed, see $dir/initdb.log"; return 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null || { echo "postgres: start failed, see $dir/server.log"; return 1; }
  "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U ils ils_test || { echo "postgres: createdb failed"; return 1; }
  export ILS_TEST_PG_URL="postgresql+psycopg://ils@127.0.0.1:$port/ils_test"
  export ILS_PG_DIR="$dir" ILS_PG_BIN="$bin"
  echo "postgres: $ILS_TEST_PG_URL (data in $dir; stop with: ${run[*]} $bin/pg_ctl -D $dir/data stop)"
}

ils_pg_stop() {
  [ -n "${ILS_PG_DIR:-}" ] || return 0
  local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$ILS_PG_BIN/pg_ctl" -D "$ILS_PG_DIR/data" -m fast stop >/dev/null 2>&1
  rm -rf "$ILS_PG_DIR"
}

ils_pg_start || true
