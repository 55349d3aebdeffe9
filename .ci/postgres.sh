#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the database tests and print its
# URL. Installs the server from Debian's packages if the machine lacks it. Prints
# nothing (and the PostgreSQL tests skip) if no server can be had.
set -uo pipefail
port=${PGPORT_TEST:-55432}
# A port already taken (another run's server, say): take a free one instead.
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2 || exit 0
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -x "$bin/initdb" ] || exit 0
data=$(mktemp -d /tmp/payroll-pg.XXXXXX)
run_as=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd -r postgres >&2 || exit 0
  chown postgres "$data"
  run_as=(runuser -u postgres --)
fi
"${run_as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust >&2 || exit 0
"${run_as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data" start >&2 || exit 0
echo "postgresql://postgres@127.0.0.1:$port/postgres"
