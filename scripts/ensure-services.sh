#!/usr/bin/env bash
# Makes sure the database servers the tests use are installed and answering: PostgreSQL on
# 127.0.0.1:5432 (trust auth) and MariaDB on 127.0.0.1:3306 (root, no password). On the
# development machines and in CI they already run; this starts them if they stopped, and on a
# bare Debian machine installs them first (needs root).
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need_apt+=(mariadb-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

if ! answers 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
fi
if ! answers 3306; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
for i in $(seq 1 30); do
  answers 5432 && answers 3306 && break
  sleep 1
done
answers 5432 && echo "PostgreSQL answers on 5432" || echo "PostgreSQL does not answer on 5432"
answers 3306 && echo "MariaDB answers on 3306" || echo "MariaDB does not answer on 3306"

# The test database and trust access the tests expect (idempotent).
if answers 5432; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" postgres 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres >/dev/null 2>&1 || true
fi
if answers 3306; then
  mariadb -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS test" 2>/dev/null || true
fi
