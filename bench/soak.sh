#!/usr/bin/env bash
# Soak: no-op jobs without pause for DURATION seconds (900) or JOBS jobs
# (500,000), whichever ends first, CLIENTS clients (32) keeping at most
# MAX_OPEN jobs (2000) queued or running, so that the rate is the workers'.
# Every INTERVAL seconds (60) one line: jobs completed per second, submit
# p99, /healthz p99, /v1/status p99 and max, the WAL's bytes (SQLite) or the
# jobs table's dead tuples and size against its live tuples (PostgreSQL),
# and resident memory and open fds of the daemon and its workers.
# On PostgreSQL it ends with what a job cost in WAL (records, bytes, and the
# statements that wrote them with pg_stat_statements loaded).
# STORES picks the stores ("sqlite postgres"). Targets: the last minute's
# jobs/s >= 0.9x the first's, WAL <= 64 MiB, RSS and fds flat within 10%,
# /healthz p99 and /v1/status under 20 ms.
#
#   BUILD_DIR=build DURATION=300 bench/soak.sh
source "$(dirname "$0")/lib.sh"
need vips pgrep
DURATION="${DURATION:-900}"
JOBS="${JOBS:-500000}"
INTERVAL="${INTERVAL:-60}"
CLIENTS="${CLIENTS:-32}"
MAX_OPEN="${MAX_OPEN:-2000}"
STORES="${STORES:-sqlite postgres}"
work="$(mktemp -d)"
trap 'stop_daemon; stop_postgres "$work"; rm -rf "$work"' EXIT
vips black "$work/tiny.png" 64 64 --bands 3
mkdir -p "$work/plugins"
ln -s "$BUILD_DIR"/test-plugins/fixture_noop.so "$work/plugins/"

# The jobs table as PostgreSQL sees it, and the server's checkpoints and WAL so
# far: "dead_tuples live_tuples table_MiB live_MiB checkpoints WAL_GiB".
pg_jobs() {
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill -d soak -AtF' ' -c \
    "SELECT s.n_dead_tup, s.n_live_tup, round(t.table_len / 1048576.0, 1), round(t.tuple_len / 1048576.0, 1),
            b.checkpoints_timed + b.checkpoints_req, round(pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') / 1073741824.0, 2)
     FROM pg_stat_user_tables s, pgstattuple('jobs') t, pg_stat_bgwriter b WHERE s.relname = 'jobs'"
}

# What the soak's jobs cost in WAL, from pg_stat_wal: records and bytes a
# job, and the share of whole pages logged after checkpoints. With
# PG_OPTS="-c shared_preload_libraries=pg_stat_statements" also the
# statements that wrote most of it.
pg_wal_per_job() {
  local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill -d soak)
  "${psql[@]}" -AtF' ' -c \
    "SELECT round(w.wal_records::numeric / j.n, 1), round(w.wal_bytes / 1024.0 / j.n, 2), w.wal_fpi,
            round(100.0 * w.wal_fpi * 8192 / greatest(w.wal_bytes, 1), 1)
     FROM pg_stat_wal w, (SELECT greatest(count(*), 1) AS n FROM jobs) j" |
    while read -r records kib fpi share; do
      echo "  WAL: $records records, $kib KiB a job; $fpi whole pages after checkpoints (at most ${share}% of the bytes)"
    done
  if "${psql[@]}" -qc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>&1 &&
     "${psql[@]}" -Atc 'SELECT 1 FROM pg_stat_statements LIMIT 1' >/dev/null 2>&1; then
    echo "  statements by WAL records written:"
    "${psql[@]}" -AtF' | ' -c \
      "SELECT calls, round(total_exec_time) || ' ms', wal_records, left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
       FROM pg_stat_statements ORDER BY wal_records DESC LIMIT 8" | sed 's/^/    /'
  fi
}

soak() {  # soak <label> [serve flags…]
  local label="$1"; shift
  start_daemon "$work/$label" --plugin-dir "$work/plugins" "$@" ${PIXELMILL_FLAGS:-}
  echo "$label: no-op jobs for ${DURATION}s or $JOBS jobs, $CLIENTS clients, at most $MAX_OPEN open, $(nproc) cores, durable"
  if [[ "$label" == sqlite ]]; then
    printf '  %5s %9s %10s %10s %11s %10s %9s %9s %7s %5s\n' min jobs/s "submit p99" "healthz p99" \
      "status p99" "status max" "WAL MiB" "DB MiB" "RSS MiB" fds
  else
    printf '  %5s %9s %10s %10s %11s %10s %10s %10s %9s %8s %5s %7s %7s %5s\n' min jobs/s "submit p99" "healthz p99" \
      "status p99" "status max" "dead tup" "live tup" "table MiB" "live MiB" ckpts "WAL GiB" "RSS MiB" fds
  fi
  "$LOADGEN" soak "$BASE" --plugin noop --clients "$CLIENTS" --requests "$JOBS" --duration "$DURATION" \
    --interval "$INTERVAL" --max-open "$MAX_OPEN" --unique "$work/tiny.png" | while read -r line; do
    local extra
    if [[ "$label" == sqlite ]]; then
      extra="$(stat -c %s "$work/$label/data/pixelmill.db-wal" 2>/dev/null || echo 0) $(stat -c %s "$work/$label/data/pixelmill.db")"
    else
      extra="$(pg_jobs)"
    fi
    "$PYTHON" - "$label" "$line" "$extra" $(rss_fds "$DAEMON_PID") <<'PY' | tee -a "$work/$label.rows"
import json, sys
label, r, extra, rss, fds = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].split(), sys.argv[4], sys.argv[5]
head = (f"  {r['t'] / 60:5.1f} {r['completed_per_second']:9.0f} {r['submit_p99_ms']:7.1f} ms {r['healthz_p99_ms']:7.1f} ms "
        f"{r['status_p99_ms']:8.1f} ms {r['status_max_ms']:7.1f} ms")
if label == "sqlite":
    wal, db = (int(x) / 1048576 for x in extra)
    print(f"{head} {wal:9.1f} {db:9.1f} {rss:>7} {fds:>5}")
else:
    print(f"{head} {extra[0]:>10} {extra[1]:>10} {extra[2]:>9} {extra[3]:>8} {extra[4]:>5} {extra[5]:>7} {rss:>7} {fds:>5}")
PY
  done
  stop_daemon
  "$PYTHON" - "$work/$label.rows" "$label" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
if len(rows) < 2:
    sys.exit(0)
rate = [float(r[1]) for r in rows]
rss = [float(r[-2]) for r in rows]
fds = [float(r[-1]) for r in rows]
# The last line may cover a part of a minute: compare the first and the last full ones.
full = rows[:-1] if len(rows) > 2 else rows
last = float(full[-1][1])
mean = sum(float(r[1]) for r in full) / len(full)
spread = f"{min(float(r[1]) for r in full) / mean:.2f}-{max(float(r[1]) for r in full) / mean:.2f}"
print(f"  summary: jobs/s last/first {last / rate[0]:.2f}, full minutes {spread}x their mean {mean:.0f}, RSS {min(rss):.0f}-{max(rss):.0f} MiB, fds {min(fds):.0f}-{max(fds):.0f}", end="")
if sys.argv[2] == "sqlite":
    print(f", WAL max {max(float(r[10]) for r in rows):.1f} MiB")
else:
    print()
PY
}

for store in $STORES; do
  case "$store" in
    sqlite) soak sqlite ;;
    postgres)
      start_postgres "$work"
      as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill soak
      "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill -d soak -qc 'CREATE EXTENSION pgstattuple'
      "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U pixelmill -d soak -qc 'SELECT pg_stat_reset_shared($$wal$$)'
      soak postgres --store "postgres://pixelmill@127.0.0.1:$PG_PORT/soak" --blob-dir "$work/postgres-blobs"
      pg_wal_per_job
      stop_postgres "$work"
      ;;
  esac
done
