#!/usr/bin/env bash
# The conversion bench's peer: django-helpdesk 2.6.1 under gunicorn, on
# SQLite and on PostgreSQL (127.0.0.1:5432, trust auth), measured by
# load.py. Everything it installs goes to target/peer (a virtualenv from
# PyPI); nothing here runs in CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/../../target/peer"
mkdir -p "$work"
export PEER_WORK="$(cd "$work" && pwd)"
if ! [ -x "$PEER_WORK/venv/bin/gunicorn" ]; then
  python3 -m venv "$PEER_WORK/venv"
  "$PEER_WORK/venv/bin/pip" install -q django-helpdesk==2.6.1 pinax-teams gunicorn 'psycopg[binary]'
fi
cd "$here"
py="$PEER_WORK/venv/bin/python"
for db in sqlite postgres; do
  export PEER_DB=$db
  rm -f "$PEER_WORK/db.sqlite3"
  if [ $db = postgres ]; then
    psql -h 127.0.0.1 -d postgres -qc 'DROP DATABASE IF EXISTS peerbench' -c 'CREATE DATABASE peerbench'
  fi
  "$py" manage.py migrate -v0 2>/dev/null
  "$py" manage.py shell -c "
from django.contrib.auth.models import User
from helpdesk.models import Queue
from rest_framework.authtoken.models import Token
Queue.objects.create(title='Support', slug='support')
print(Token.objects.create(user=User.objects.create_superuser('bench', 'bench@example.com', 'unused')).key)" \
    2>/dev/null | tail -n 1 >"$PEER_WORK/token"
  "$PEER_WORK/venv/bin/gunicorn" -w 4 -b 127.0.0.1:18080 --pid "$PEER_WORK/gunicorn.pid" peer.wsgi \
    >"$PEER_WORK/gunicorn.log" 2>&1 &
  sleep 3
  master=$(cat "$PEER_WORK/gunicorn.pid")
  pids=$(echo "$master" $(pgrep -P "$master") | tr ' ' ',')
  "$py" load.py 18080 "$pids"
  kill "$master"
  wait
done
