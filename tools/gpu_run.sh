#!/usr/bin/env bash
# The whole course on a lent GPU machine, in one command: tools/run_course_on_cuda.py with what it needs.
#
# That machine has Python 3.12 and PyTorch but no Jupyter (ipykernel, nbclient, jupyter_client,
# nbformat) and no PyAV, and it cannot reach a package registry. So those travel as wheels, listed in
# tools/gpu_wheels.txt, at the versions constraints.txt pins:
#
#   1. Here, on a machine with pip and the network (once, and again after a pin changes):
#        tools/gpu_run.sh download
#      fills .whl/ (git ignores it) with the CPython 3.12 manylinux x86_64 wheels, about 45 MB.
#
#   2. There, from the repository root, with .whl carried along with the working tree:
#        bash tools/gpu_run.sh [--archive FILE.tar.gz] [OPTIONS of run_course_on_cuda.py]
#      installs .whl/*.whl into a fresh folder with `pip install --no-index --no-deps --target`, puts
#      that folder first on PYTHONPATH (the notebooks' kernels inherit it), and runs
#        python3 tools/run_course_on_cuda.py --device cuda --results artifacts/cuda_run [OPTIONS]
#      which prints the summary and exits 0 only if every notebook matched its stored CPU outputs and
#      the device-dependent tests passed. --archive packs the results folder (results.json,
#      summary.md, the executed notebooks, notebook 06's figures) into one file to bring back.
#
# A dry run of step 2 on any Linux machine without a GPU (README, "The whole course on a GPU"):
#   GPU_PY_VERSION=3.11 GPU_WHEELS=.whl-cp311 tools/gpu_run.sh download
#   PYTHON=<a python with torch but no Jupyter> GPU_WHEELS=.whl-cp311 bash tools/gpu_run.sh --device cpu ...
# tests/test_gpu_run.py does the same offline with a Python built to lack Jupyter.
#
# Settings, from the environment: PYTHON (default python3), GPU_WHEELS (default .whl), GPU_SITE (the
# folder the wheels go into, or where they already are; default a new one in $TMPDIR or /tmp), GPU_PY_VERSION
# (download only; default 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEELS=${GPU_WHEELS:-.whl}

if [[ "${1:-}" == "download" ]]; then
    version=${GPU_PY_VERSION:-3.12}
    pip=(${PIP:-$(test -x .venv/bin/python && echo .venv/bin/python || echo python3) -m pip})
    mapfile -t names < <(grep -v -e '^#' -e '^\s*$' tools/gpu_wheels.txt)
    mkdir -p "$WHEELS"
    rm -f "$WHEELS"/*.whl  # one version of each: two would stop the install there
    platforms=()
    for tag in manylinux1 manylinux2010 manylinux2014 manylinux_2_5 manylinux_2_12 manylinux_2_17 \
               manylinux_2_24 manylinux_2_26 manylinux_2_27 manylinux_2_28 manylinux_2_31 manylinux_2_34; do
        platforms+=(--platform "${tag}_x86_64")
    done
    # --no-deps: tools/gpu_wheels.txt already names every dependency the machine lacks, and the
    # constraints file fixes each name's version.
    "${pip[@]}" download --quiet --no-deps --only-binary=:all: --implementation cp \
        --python-version "$version" "${platforms[@]}" -c constraints.txt -d "$WHEELS" "${names[@]}"
    echo "$(ls "$WHEELS"/*.whl | wc -l) wheels for CPython $version in $WHEELS ($(du -sh "$WHEELS" | cut -f1)):" \
         "carry $WHEELS with the working tree and run \`bash tools/gpu_run.sh\` there"
    exit 0
fi

archive="" results="artifacts/cuda_run" args=()
while (($#)); do
    case "$1" in
        --archive) archive=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done

shopt -s nullglob
wheels=("$WHEELS"/*.whl)
site=${GPU_SITE:-}
if ((${#wheels[@]})); then
    site=${site:-$(mktemp -d -t tensorlab-site.XXXXXX)}
    echo "installing ${#wheels[@]} carried wheels from $WHEELS into $site"
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "${wheels[@]}"
elif [[ -z "$site" ]]; then
    echo "no wheels in $WHEELS: using what $PYTHON has (\`tools/gpu_run.sh download\` fetches them where pip works)"
fi
if [[ -n "$site" ]]; then  # the carried packages, first on the path of this script and of every kernel
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    # Jupyter and IPython keep connection files and a profile under $HOME; keep them beside the packages.
    export JUPYTER_RUNTIME_DIR=${JUPYTER_RUNTIME_DIR:-$site/.jupyter-runtime} IPYTHONDIR=${IPYTHONDIR:-$site/.ipython}
fi

status=0
"$PYTHON" tools/run_course_on_cuda.py --device cuda --results "$results" "${args[@]}" || status=$?
if [[ -n "$archive" && -d "$results" ]]; then
    tar -czf "$archive" -C "$(dirname "$results")" "$(basename "$results")"
    echo "packed $results into $archive"
fi
exit "$status"
