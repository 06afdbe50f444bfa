#!/usr/bin/env python3
"""Seeds a stopped daemon's SQLite file with N jobs for bench/dashboard.sh.

Rows follow the schema of daemon/store/sqlite/migrations exactly (checked
against PRAGMA table_info first): one original per job, outputs for the
jobs that succeeded, one attempt row per attempt. Jobs are spread over the
last week with the last hour busier, as a daemon that has been running
would have them. Queued jobs are due tomorrow, so that the daemon, once
started, leaves them alone while the pages are measured.

    dashboard_seed.py DB_PATH [N]
"""
import hashlib
import json
import random
import sqlite3
import sys
import time
import uuid

EXPECTED = {
    "originals": ["id", "sha256", "filename", "media_type", "size_bytes", "width", "height", "pages",
                  "created_at", "used", "purged_at"],
    "jobs": ["seq", "id", "plugin", "plugin_version", "params", "dedup_key", "original_id", "state", "priority",
             "attempts", "max_attempts", "run_after", "lease_until", "error_code", "error_message", "progress_done",
             "progress_total", "created_at", "started_at", "finished_at", "duration_seconds", "callback_url",
             "batch_id", "callback_email", "hits", "evicted"],
    "outputs": ["job_id", "idx", "name", "media_type", "sha256", "size_bytes", "width", "height"],
    "job_attempts": ["job_id", "attempt", "started_at", "finished_at", "outcome", "error_code", "error_message",
                     "duration_seconds"],
}

PLUGINS = [  # name, share, params, median seconds
    ("thumbnail", 0.55, {"crop": "none", "quality": 80, "size": 256}, 0.030),
    ("resize", 0.15, {"enlarge": False, "fit": "inside", "quality": 80, "width": 800}, 0.045),
    ("ascii", 0.10, {"charset": " .:-=+*#%@", "color": False, "format": "text", "invert": False, "width": 100}, 0.012),
    ("pdf2png", 0.20, {"dpi": 72, "max_pages": 1000, "pages": "all"}, 0.400),
]
ERRORS = [("unprocessable", "the source could not be decoded: Premature end of JPEG file"),
          ("unprocessable", "the image is 30000 x 30000 pixels; the limit is 71000000"),
          ("timeout", "the job ran past its 60 s timeout"),
          ("unsupported_media_type", "file is image/gif; plugin 'pdf2png' accepts application/pdf"),
          ("internal", "the plugin worker died (signal 11) while running this job")]


def check_schema(db):
    for table, columns in EXPECTED.items():
        have = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        if have != columns:
            sys.exit(f"dashboard_seed: table {table} has columns {have}, expected {columns}: update this script")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < 3:
        sys.exit(f"dashboard_seed: schema version {version}; start the daemon once first (migrations)")


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    rng = random.Random(42)
    db = sqlite3.connect(path)
    check_schema(db)
    if db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]:
        sys.exit("dashboard_seed: the database already has jobs")
    now = int(time.time() * 1000)
    recent = n // 25  # the last hour: about 4% of a week's jobs
    times = sorted([now - rng.randint(3_600_000, 7 * 86_400_000) for _ in range(n - recent)] +
                   [now - rng.randint(1_000, 3_600_000) for _ in range(recent)])
    originals, jobs, outputs, attempts = [], [], [], []
    for i, created in enumerate(times):
        r, acc = rng.random(), 0.0
        for plugin, share, params, median in PLUGINS:
            acc += share
            if r < acc:
                break
        kind = rng.random()
        if plugin == "pdf2png":
            name, media, pages, w, h = f"scan-{i:06d}.pdf", "application/pdf", rng.randint(1, 12), None, None
        elif kind < 0.25:
            name, media, pages, w, h = f"IMG_{i:06d}.JPG", "image/jpeg", None, 4032, 3024
        else:
            name, media, pages, w, h = f"photo-{i:06d}.jpg", "image/jpeg", None, 1920, 1280
        oid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        sha = hashlib.sha256(oid.encode()).hexdigest()
        originals.append((oid, sha, name, media, rng.randint(50_000, 8_000_000), w, h, pages, created, 1, None))

        s = rng.random()
        if created > now - 120_000 and s < 0.3:
            state = "queued"
        else:
            state = "succeeded" if s < 0.86 else "failed" if s < 0.95 else "canceled"
        jid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        canon = json.dumps(params, sort_keys=True, separators=(",", ":"))
        dedup = hashlib.sha256(f"{sha}|{plugin}|1.0.0|{canon}".encode()).hexdigest()
        duration = round(median * rng.lognormvariate(0, 0.6), 4)
        started = created + rng.randint(1, 400)
        finished = started + int(duration * 1000) + 1
        n_attempts = 0 if state == "queued" else (rng.choice([1, 1, 1, 2, 3]) if state == "failed" else 1)
        error = rng.choice(ERRORS) if state == "failed" else (None, None)
        progress = pages or 1
        jobs.append((jid, plugin, "1.0.0", canon, dedup, oid, state, 0, n_attempts, 3,
                     now + 86_400_000 if state == "queued" else created, 0, error[0], error[1],
                     progress if state == "succeeded" else 0, progress if state == "succeeded" else 0,
                     created, None if state == "queued" else started,
                     None if state == "queued" else finished,
                     duration if state == "succeeded" else None, "", None, "", rng.randint(0, 5), 0))
        for a in range(1, n_attempts + 1):
            last = a == n_attempts
            outcome = state if last else "retry"
            err = error if state == "failed" else (None, None)
            attempts.append((jid, a, started + (a - 1) * 1000, finished + (a - 1) * 1000, outcome, err[0], err[1],
                             duration if outcome == "succeeded" else None))
        if state == "succeeded":
            if plugin == "pdf2png":
                for p in range(progress):
                    outputs.append((jid, p, f"page-{p + 1}.png", "image/png",
                                    hashlib.sha256(f"{jid}/{p}".encode()).hexdigest(), 120_000, 612, 792))
            elif plugin == "ascii":
                outputs.append((jid, 0, "ascii.txt", "text/plain", hashlib.sha256(jid.encode()).hexdigest(),
                                5_000, None, None))
            else:
                outputs.append((jid, 0, "thumbnail.jpg", "image/jpeg", hashlib.sha256(jid.encode()).hexdigest(),
                                18_000, 256, 171))
    with db:
        db.executemany("INSERT INTO originals VALUES (?,?,?,?,?,?,?,?,?,?,?)", originals)
        db.executemany("INSERT INTO jobs (id, plugin, plugin_version, params, dedup_key, original_id, state, priority, "
                       "attempts, max_attempts, run_after, lease_until, error_code, error_message, progress_done, "
                       "progress_total, created_at, started_at, finished_at, duration_seconds, callback_url, "
                       "batch_id, callback_email, hits, evicted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       jobs)
        db.executemany("INSERT INTO outputs VALUES (?,?,?,?,?,?,?,?)", outputs)
        db.executemany("INSERT INTO job_attempts VALUES (?,?,?,?,?,?,?,?)", attempts)
    db.close()
    print(f"dashboard_seed: {len(jobs)} jobs, {len(originals)} originals, {len(outputs)} outputs, "
          f"{len(attempts)} attempts")


if __name__ == "__main__":
    main()
