#!/usr/bin/env bash
# The embedded default: migrate, seed the demo workspace, start the Celery worker (with embedded beat)
# and the web server; Ctrl-C stops both. Called by `make run`.
set -euo pipefail
host=$1
port=$2
bin=.venv/bin
# Links in what the demo sends (tracking, open pixel, unsubscribe) point at this server as started here.
case $host in 0.0.0.0 | "::" | "[::]") public_host=127.0.0.1 ;; *) public_host=$host ;; esac
export NUDGE_PUBLIC_URL=${NUDGE_PUBLIC_URL:-http://$public_host:$port}

$bin/python manage.py migrate --noinput -v 0
seed=$($bin/python manage.py seed_demo)
field() { echo "$seed" | $bin/python -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

$bin/celery -A config worker --beat --loglevel=INFO --concurrency=2 --pool=threads \
  --scheduler django_celery_beat.schedulers:DatabaseScheduler >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

write_key=$(field "d['write_key']")
api_token=$(field "d['api_token']")
cat <<TXT

  Nudge is running on the embedded default (SQLite, file-system broker).
  Panel:     http://$host:$port/        login: $(field "d['login']['email']") / $(field "d['login']['password']")
  Admin:     http://$host:$port/admin/
  API docs:  http://$host:$port/api/docs/   (signed in to the panel, "Try it out" acts as you)
  Write key: $write_key   (send Segment calls to http://$host:$port/v1/…)
  API token: $api_token   (the demo owner's; a new one each \`make run\`, the previous one revoked)
  Outbox:    var/outbox/<channel>.jsonl   (what the demo journeys send; nothing leaves this machine)
  Worker and beat log: var/worker.log

  Try it (Bob's failed payment fires "Skips a payment"; its journey emails him: see var/outbox/email.jsonl):
    curl -u $write_key: -H 'Content-Type: application/json' \\
      -d '{"userId": "bob", "event": "failed_payment"}' http://$host:$port/v1/track
    curl -H "Authorization: Bearer $api_token" http://$host:$port/api/v1/journeys/

TXT
$bin/python manage.py runserver "$host:$port" --noreload
