#!/usr/bin/env bash
# Recipes, side by side in one run of one daemon:
#   1. the chain pdf2png(dpi=72) -> thumbnail(size=256) of a 21-page PDF
#      (gnuplot's manual) against pdf2png alone of the same PDF, upload to
#      last output; target: the chain within 1.3x (its thumbnails run beside
#      the pages on free workers, never one after another per page);
#   2. five derivatives of one 1920x1080 JPEG in one submit (`jobs`) against
#      five submits one after the other, as a client without `jobs` sends them;
#   then a soak of chains: SOAK_SECONDS (120) of 21-page chains back to back,
#   a distinct PDF each, with the rate, the WAL and the daemon's resident
#   memory every 30 s (targets: the last rate >= 0.9x the first, WAL bounded,
#   RSS flat within 10%). Best of RUNS (3) for 1 and 2, a distinct copy each
#   run (dedup would answer at once).
#
#   BUILD_DIR=build bench/recipes.sh
source "$(dirname "$0")/lib.sh"
need pdfseparate pdfunite curl "$PYTHON"
"$BENCH_DIR/corpus.sh" >/dev/null
RUNS="${RUNS:-3}"
SOAK_SECONDS="${SOAK_SECONDS:-120}"
work="$(mktemp -d)"
trap 'stop_daemon; rm -rf "$work"' EXIT

pdfseparate -f 1 -l 21 "$CACHE_DIR/corpus/doc-50.pdf" "$work/page-%d.pdf" 2>/dev/null
pdfunite $(for i in $(seq 1 21); do echo "$work/page-$i.pdf"; done) "$work/doc-21.pdf" 2>/dev/null
photo=$(ls "$CACHE_DIR"/corpus/photo-1080/*.jpg | head -1)

start_daemon "$work/pm" ${PIXELMILL_FLAGS:-}
"$PYTHON" - "$BASE" "$work" "$photo" "$RUNS" "$SOAK_SECONDS" "$DAEMON_PID" "$work/pm/data" <<'PY'
import json, os, subprocess, sys, time, urllib.request

base, work, photo, runs, soak_seconds, pid, data = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), \
    float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
serial = 0

def copy_of(path, suffix):
    """A distinct copy of `path` (a comment appended), so that dedup does not answer."""
    global serial
    serial += 1
    out = os.path.join(work, f"copy-{serial}{suffix}")
    with open(path, "rb") as f, open(out, "wb") as g:
        g.write(f.read())
        g.write(b"\n%% copy %d\n" % serial if suffix == ".pdf" else b"")
    if suffix == ".jpg":  # bytes after the JPEG's end marker are ignored by decoders
        with open(out, "ab") as g:
            g.write(b"copy %d" % serial)
    return out

def submit(path, fields):
    args = ["curl", "-sS", "-F", f"file=@{path}"]
    for k, v in fields.items():
        args += ["-F", f"{k}={v}"]
    body = json.loads(subprocess.run(args + [f"{base}/v1/jobs"], check=True, capture_output=True).stdout)
    if "id" not in body and "jobs" not in body:
        raise SystemExit(f"submit refused: {body}")
    return body

def wait(ids):
    left = set(ids)
    while left:
        for i in list(left):
            job = json.load(urllib.request.urlopen(f"{base}/v1/jobs/{i}"))
            if job["state"] in ("failed", "canceled"):
                raise SystemExit(f"job {i} {job['state']}: {job['error']}")
            if job["state"] == "succeeded":
                left.discard(i)
        if left:
            time.sleep(0.01)

def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0

pdf = os.path.join(work, "doc-21.pdf")
chain = json.dumps([{"plugin": "pdf2png", "params": {"dpi": 72}}, {"plugin": "thumbnail", "params": {"size": 256}}])
def pages_alone():
    wait([submit(copy_of(pdf, ".pdf"), {"plugin": "pdf2png", "dpi": "72"})["id"]])
def pages_chained():
    wait([submit(copy_of(pdf, ".pdf"), {"steps": chain})["id"]])

five = [{"plugin": "thumbnail", "params": {"size": 128}}, {"plugin": "thumbnail", "params": {"size": 256}},
        {"plugin": "resize", "params": {"width": 640}}, {"plugin": "resize", "params": {"width": 1280}},
        {"plugin": "thumbnail", "params": {"size": 512, "format": "webp"}}]
def five_in_one():
    body = submit(copy_of(photo, ".jpg"), {"jobs": json.dumps(five)})
    wait([j["id"] for j in body["jobs"]])
def five_apart():
    path = copy_of(photo, ".jpg")
    for entry in five:
        fields = {"plugin": entry["plugin"], **{k: str(v) for k, v in entry["params"].items()}}
        wait([submit(path, fields)["id"]])

alone = min(timed(pages_alone) for _ in range(runs))
chained = min(timed(pages_chained) for _ in range(runs))
one = min(timed(five_in_one) for _ in range(runs))
apart = min(timed(five_apart) for _ in range(runs))
print(f"recipes, best of {runs}")
print(f"  pdf2png 72 dpi, 21 pages            {alone:7.2f} s")
print(f"  chain pdf2png -> thumbnail 256      {chained:7.2f} s   ratio = {chained / alone:.2f}x   (target <= 1.3x)")
print(f"  5 derivatives of a 1080p JPEG:")
print(f"    five submits, one after another   {apart:7.2f} s")
print(f"    one submit with jobs=[5]          {one:7.2f} s   ratio = {one / apart:.2f}x   (target <= 0.5x)")

def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
def wal_mib():
    path = os.path.join(data, "pixelmill.db-wal")
    return os.path.getsize(path) / 1048576 if os.path.exists(path) else 0.0

print(f"soak: 21-page chains back to back for {soak_seconds:.0f} s")
start = time.monotonic()
window, done, rates, rss = start, 0, [], []
while time.monotonic() - start < soak_seconds:
    pages_chained()
    done += 1
    now = time.monotonic()
    if now - window >= 30 or now - start >= soak_seconds:
        rates.append(done / (now - window))
        rss.append(rss_mib())
        print(f"  {now - start:6.0f} s  {rates[-1] * 21:6.1f} pages/s  WAL {wal_mib():6.1f} MiB  RSS {rss[-1]:6.1f} MiB")
        window, done = now, 0
if len(rates) >= 2:
    print(f"  last/first rate = {rates[-1] / rates[0]:.2f}x (target >= 0.9x), "
          f"RSS last/first = {rss[-1] / rss[0]:.2f}x (target within 10%)")
PY
