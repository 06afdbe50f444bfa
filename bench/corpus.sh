#!/usr/bin/env bash
# Builds the benchmark corpus from Debian packages (never committed):
#   .cache/corpus/photo-1080/*.jpg     126 distinct 1920x1080 baseline JPEGs
#   .cache/corpus/photo-5k/*.jpg       32 distinct 5120x2880 progressive JPEGs
#   .cache/corpus/doc-50.pdf           the first 50 pages of gnuplot's manual
#   .cache/corpus/tiny/*.png           2000 distinct 64x64 PNGs
# Photos come from mate-backgrounds (nature photographs), the PDF from
# gnuplot-doc, both fetched with `apt-get download` and unpacked with dpkg -x.
source "$(dirname "$0")/lib.sh"
need vips apt-get dpkg-deb pdfseparate pdfunite
corpus="$CACHE_DIR/corpus"
if [[ -f "$corpus/.done" ]]; then echo "corpus: $corpus"; exit 0; fi
rm -rf "$corpus"
mkdir -p "$corpus"/{debs,root,photo-1080,photo-5k,tiny}

( cd "$corpus/debs" && apt-get download mate-backgrounds gnuplot-doc >/dev/null 2>&1 ) \
  || { echo "corpus: apt-get download failed (is the Debian archive reachable?)" >&2; exit 1; }
for deb in "$corpus"/debs/*.deb; do dpkg-deb -x "$deb" "$corpus/root"; done
photos="$corpus/root/usr/share/backgrounds/mate"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# 1920x1080: 14 photographs x 9 crops (a 3x3 grid of 80% windows).
n=0
for src in "$photos"/nature/*.jpg "$photos"/abstract/Elephants_3840x2160.jpg "$photos"/desktop/GreenTraditional.jpg; do
  read -r w h < <(vipsheader -f width "$src"; vipsheader -f height "$src" ) 2>/dev/null || true
  w=$(vipsheader -f width "$src"); h=$(vipsheader -f height "$src")
  cw=$((w * 8 / 10)); ch=$((h * 8 / 10))
  for gx in 0 1 2; do
    for gy in 0 1 2; do
      n=$((n + 1))
      vips crop "$src" "$work/c.v" $(((w - cw) * gx / 2)) $(((h - ch) * gy / 2)) "$cw" "$ch"
      vips thumbnail "$work/c.v" "$corpus/photo-1080/p$(printf %03d $n).jpg[Q=90,optimize_coding]" 1920 \
        --height 1080 --crop centre --size force
    done
  done
done

# 5120x2880 progressive: 16 windows of the 5640x3172 photograph, and their mirror images.
big="$photos/abstract/Elephants_5640x3172.jpg"
n=0
for gx in 0 1 2 3; do
  for gy in 0 1 2 3; do
    vips crop "$big" "$work/b.v" $((520 * gx / 3)) $((292 * gy / 3)) 5120 2880
    n=$((n + 1)); vips copy "$work/b.v" "$corpus/photo-5k/e$(printf %03d $n).jpg[Q=90,interlace]"
    vips flip "$work/b.v" "$work/f.v" horizontal
    n=$((n + 1)); vips copy "$work/f.v" "$corpus/photo-5k/e$(printf %03d $n).jpg[Q=90,interlace]"
  done
done

# 50 pages of a real manual.
pdfseparate -f 1 -l 50 "$corpus/root/usr/share/doc/gnuplot/gnuplot.pdf" "$work/page-%d.pdf" 2>/dev/null
pdfunite $(for i in $(seq 1 50); do echo "$work/page-$i.pdf"; done) "$corpus/doc-50.pdf" 2>/dev/null

# Tiny distinct PNGs for queue benchmarks: 64x64 windows of one photograph.
vips thumbnail "$photos/nature/Aqua.jpg" "$work/small.v" 1000 --height 600
python3 - "$work/small.v" "$corpus/tiny" <<'PY'
import subprocess, sys
src, out = sys.argv[1], sys.argv[2]
# One vips call per 100 tiles keeps this quick.
n = 0
for row in range(20):
    args = []
    for col in range(100):
        x, y = (col * 9) % 936, (row * 27 + col) % 536
        n += 1
        subprocess.run(["vips", "crop", src, f"{out}/t{n:04d}.png[compression=1]", str(x), str(y), "64", "64"], check=True)
PY
touch "$corpus/.done"
echo "corpus: $corpus ($(ls "$corpus/photo-1080" | wc -l) 1080p, $(ls "$corpus/photo-5k" | wc -l) 5k, $(ls "$corpus/tiny" | wc -l) tiny, doc-50.pdf)"
