#!/usr/bin/env bash
# Does the Binder recipe work? Build what repo2docker would build, from the binder/ files alone, and run the first
# notebook in it:
#   1. a copy of the committed repository (git archive HEAD: what Binder clones), or with --worktree the working
#      tree's tracked and untracked-but-not-ignored files;
#   2. a fresh venv with the Python of binder/runtime.txt, `pip install -r binder/requirements.txt`, then
#      `./binder/postBuild` from the copy's root (installs the kit, prefetches the data into a fresh, empty cache);
#   3. the installed torch is the CPU build (version +cpu, no CUDA, no nvidia-* packages): what the registry this
#      runs against serves for the torch==2.13.0 pin (a registry that serves the CUDA build fails here, on purpose);
#   4. papermill runs notebooks/00_quickstart.ipynb with its CI parameters (tests/notebook_params/00_quickstart.json)
#      in that venv; the check fails if any step fails or the notebook writes no summary.json.
# Usage: binder/check.sh [--worktree] [--keep]       (--keep leaves the temp dir for a look; its path is printed)
# Nothing outside the temp dir is written; the kit's cache there starts empty, so nothing from this machine's
# cache (trained super-networks, data) is reused.
set -euo pipefail
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SOURCE=head KEEP=0
for arg in "$@"; do
    case "$arg" in
        --worktree) SOURCE=worktree ;;
        --keep) KEEP=1 ;;
        *) echo "binder/check.sh: unknown option '$arg' (allowed: --worktree, --keep)" >&2; exit 2 ;;
    esac
done

t0=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/subnet-kit-binder.XXXXXX")"
cleanup() {
    if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; echo "== [$(( $(date +%s) - t0 )) s] temp dir removed"; fi
}
trap cleanup EXIT
phase() { echo "== [$(( $(date +%s) - t0 )) s] $*"; }

# Python as runtime.txt asks (python-3.11 -> a python3.11, or a python3 that is 3.11)
want="$(sed -n 's/^python-\([0-9.]*\).*/\1/p' "$ROOT/binder/runtime.txt")"
PY=""
for cand in "python$want" python3; do
    if command -v "$cand" >/dev/null && "$cand" -c "import sys; sys.exit(not '%d.%d' % sys.version_info[:2] == '$want')"; then
        PY="$(command -v "$cand")"; break
    fi
done
[ -n "$PY" ] || { echo "binder/check.sh: binder/runtime.txt asks for Python $want; no python$want or python3 $want here" >&2; exit 1; }

phase "copy of the repository ($SOURCE) -> $WORK/repo"
mkdir -p "$WORK/repo"
if [ "$SOURCE" = head ]; then
    git -C "$ROOT" archive HEAD | tar -x -C "$WORK/repo"
else
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
        | tar --null -T - --ignore-failed-read -c 2>/dev/null) | tar -x -C "$WORK/repo"  # deleted files are skipped
fi
for f in binder/requirements.txt binder/postBuild binder/runtime.txt notebooks/00_quickstart.ipynb \
         tests/notebook_params/00_quickstart.json; do
    [ -e "$WORK/repo/$f" ] || { echo "binder/check.sh: $f is not in the $SOURCE copy" >&2; exit 1; }
done

# Private, empty places for everything a run writes, like a fresh Binder container's home.
export SUBNET_KIT_CACHE="$WORK/cache" HF_HOME="$WORK/hf" JUPYTER_DATA_DIR="$WORK/jupyter/data" \
       JUPYTER_CONFIG_DIR="$WORK/jupyter/config" JUPYTER_RUNTIME_DIR="$WORK/jupyter/runtime" IPYTHONDIR="$WORK/ipython" \
       MPLCONFIGDIR="$WORK/mpl"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false

phase "venv ($("$PY" --version)) + pip install -r binder/requirements.txt"
"$PY" -m venv "$WORK/venv"
export PATH="$WORK/venv/bin:$PATH" VIRTUAL_ENV="$WORK/venv"
python -m pip install -q -r "$WORK/repo/binder/requirements.txt" 2>&1 | { grep -v -E "Retrying|NewConnectionError|is ignored: it is neither" || true; }

phase "torch is the CPU build"
python -c "import torch, sys; ok = torch.__version__.endswith('+cpu') and torch.version.cuda is None; print('torch', torch.__version__, 'cuda', torch.version.cuda); sys.exit(0 if ok else 1)" \
    || { echo "binder/check.sh: torch is not the CPU build" >&2; exit 1; }
if python -m pip list --format=freeze | grep -i '^nvidia-'; then
    echo "binder/check.sh: nvidia-* packages (CUDA libraries) were installed" >&2; exit 1
fi

phase "binder/postBuild"
(cd "$WORK/repo" && ./binder/postBuild)

phase "papermill notebooks/00_quickstart.ipynb with tests/notebook_params/00_quickstart.json"
cd "$WORK/repo"
python -m papermill notebooks/00_quickstart.ipynb "$WORK/00_quickstart.out.ipynb" \
    -f tests/notebook_params/00_quickstart.json -p out_dir "$WORK/out" --cwd notebooks -k python3 \
    --no-progress-bar --no-request-save-on-cell-execute
[ -s "$WORK/out/summary.json" ] || { echo "binder/check.sh: the notebook wrote no $WORK/out/summary.json" >&2; exit 1; }
python -c "import json, sys; print('summary.json:', json.dumps(json.load(open(sys.argv[1]))))" "$WORK/out/summary.json"
phase "binder check passed"
