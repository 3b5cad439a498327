#!/usr/bin/env bash
# Makes a virtual environment with the pinned Snakemake (workflow/requirements.txt):
#   workflow/install-snakemake.sh [VENV]   (default: .venv-snakemake)
# Does nothing when VENV already holds those versions. Needs python3 with venv and PyPI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-.venv-snakemake}"
want="$(grep -E '^snakemake==' "$here/requirements.txt" | cut -d= -f3)"
if [ -x "$venv/bin/snakemake" ] && [ "$("$venv/bin/snakemake" --version 2>/dev/null)" = "$want" ] \
   && [ -f "$venv/.requirements" ] && cmp -s "$venv/.requirements" "$here/requirements.txt"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/requirements.txt" "$venv/.requirements"
