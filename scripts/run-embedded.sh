#!/usr/bin/env bash
# The embedded default: migrate, seed the demo workspace, start the Celery worker (with embedded beat)
# and the web server; Ctrl-C stops both. Called by `make run`.
set -euo pipefail
host=$1
port=$2
bin=.venv/bin

$bin/python manage.py migrate --noinput -v 0
seed=$($bin/python manage.py seed_demo)
field() { echo "$seed" | $bin/python -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

$bin/celery -A config worker --beat --loglevel=INFO --concurrency=2 --pool=threads \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

cat <<TXT

  Nudge is running on the embedded default (SQLite, file-system broker).
  Panel:     http://$host:$port/        login: $(field "d['login']['email']") / $(field "d['login']['password']")
  Admin:     http://$host:$port/admin/
  API docs:  http://$host:$port/api/docs/
  Write key: $(field "d['write_key']")   (send Segment calls to http://$host:$port/v1/…)
  Worker and beat log: var/worker.log

TXT
$bin/python manage.py runserver "$host:$port" --noreload
