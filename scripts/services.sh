#!/usr/bin/env bash
# Makes sure the services the daemon and its tests need are up on this host:
# Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (trust auth, with
# the databases "assistant", the daemon's default, and "test", and the RUM
# extension's package when it can). Installs the Debian packages when they are missing
# and starts the servers when they are not reachable; a service that already
# answers is left alone. Used by .ci/run and `make run`.
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-60}

log() { echo "services: $*" >&2; }

redis_up() { command -v redis-cli >/dev/null && redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }
pg_up() { command -v pg_isready >/dev/null && pg_isready -h "$PG_HOST" -p "$PG_PORT" -q; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_updated=false
apt_install() {
	if [ "$(id -u)" -ne 0 ]; then
		log "package $1 is missing and this is not root: install it (apt-get install $1)"
		exit 1
	fi
	if ! $apt_updated; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt_updated=true
	fi
	log "installing $1"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

# wait_for NAME CHECK: polls CHECK once a second, bounded by WAIT_SECONDS.
wait_for() {
	local name=$1 check=$2 i
	for ((i = 0; i < WAIT_SECONDS; i++)); do
		if $check; then
			log "$name is up"
			return 0
		fi
		sleep 1
	done
	log "$name did not come up within ${WAIT_SECONDS}s"
	return 1
}

# PostgreSQL: the Debian package creates the "main" cluster. A cluster this
# script installed gets trust auth on local and loopback connections, as the
# tests' URLs carry no password.
if ! pg_up; then
	fresh_pg=false
	if ! installed postgresql; then
		apt_install postgresql
		fresh_pg=true
	fi
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	if $fresh_pg; then
		hba=/etc/postgresql/$version/main/pg_hba.conf
		{
			echo "local all all trust"
			echo "host all all 127.0.0.1/32 trust"
			echo "host all all ::1/128 trust"
			cat "$hba"
		} >"$hba.new" && mv "$hba.new" "$hba"
	fi
	log "starting PostgreSQL $version"
	pg_ctlcluster --skip-systemctl-redirect "$version" main start || true # "already running" is fine; wait_for decides
	wait_for PostgreSQL pg_up
fi

if ! redis_up; then
	installed redis-server || apt_install redis-server
	mkdir -p /var/lib/redis /var/log/redis
	log "starting Redis"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_for Redis redis_up
fi

# RUM (Debian's postgresql-<version>-rum) lets keyword search rank only the
# best matches (migration 00011); without it search ranks through GIN, so a
# failed install is only a warning.
version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$version" ] && ! installed "postgresql-$version-rum"; then
	if [ "$(id -u)" -eq 0 ]; then
		(apt_install "postgresql-$version-rum") || log "WARNING: postgresql-$version-rum not installed: keyword search ranks through GIN"
	else
		log "postgresql-$version-rum is missing: keyword search ranks through GIN (apt-get install postgresql-$version-rum)"
	fi
fi

# "assistant" is the daemon's default database (database.url): its tables
# never land in the "postgres" maintenance database. "test" is the tests'.
for db in assistant test; do
	if ! psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
		log "creating database $db"
		createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$db"
	fi
done
