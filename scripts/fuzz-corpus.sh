#!/usr/bin/env bash
# Builds the seed corpus of the afl target (fuzz/) into DIR (default fuzz/corpus, ignored by
# git): the repository's slide fixtures up to 256 KiB (PNG and JPEG up to 16 KiB; tests/data, sample_tiles, DICOM
# fixtures included when present) and the small slides of ../shared/data/slides, which are
# referenced here and copied at run time, never committed (small_dicom.dcm's licence keeps
# it out of the repository; afl skips seeds over 1 MB, so its first 1000 KB are taken: the
# header, the frame table and the first frames). Run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/fuzz/corpus}"
shared="${MITOCOUNT_SHARED:-$root/../shared/data/slides}"
mkdir -p "$out"
n=0
while IFS= read -r -d '' f; do
  # Flatten the path into the name, so that equal base names do not collide.
  rel="${f#"$root"/}"
  cp "$f" "$out/${rel//\//_}"
  n=$((n + 1))
done < <(find "$root/tests/data" "$root/sample_tiles" -type f -size -257k \
  \( -iname '*.tif' -o -iname '*.tiff' -o -iname '*.svs' -o -iname '*.btf' -o -iname '*.dcm' \
     -o \( -size -17k \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) \) \) -print0)
if [ -d "$shared" ]; then
  for name in small_dicom.dcm; do
    if [ -f "$shared/$name" ]; then
      head -c 1024000 "$shared/$name" > "$out/shared_$name"
      n=$((n + 1))
    fi
  done
else
  echo "fuzz-corpus: $shared is absent; the shared slides are left out" >&2
fi
echo "fuzz-corpus: $n seeds in $out"
