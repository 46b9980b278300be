"""tools/gpu_run.sh, the whole course on the lent GPU machine, checked here without one.

That machine has Python 3.12 and PyTorch but nothing of Jupyter, and it cannot reach a registry: the
script installs carried wheels (tools/gpu_wheels.txt) into a folder, puts it first on PYTHONPATH and
runs tools/run_course_on_cuda.py, whose kernels inherit that path. Here:

* the carry list is pinned and complete: every dependency of a carried package is carried too or is
  on that machine (its package list below);
* a Python made to have only what that machine has (a bare virtual environment that sees this
  machine's copies of the machine's packages, nothing of Jupyter) refuses to run the course and says
  how to carry; given the carried packages in a folder, ``gpu_run.sh`` runs a course notebook with it
  in a real kernel and the notebook matches its stored outputs.

What needs the network is not done here: downloading the wheels and ``pip install --target`` from
them. The README's dry run ("The whole course on a GPU") does both, with wheels for this Python.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "gpu_run.sh"
NOTEBOOK = ROOT / "solutions" / "01_tensors_0d_to_nd.ipynb"

# The Python packages of the GPU machine's image (Python 3.12.3, torch 2.11, torchvision 0.26), as its
# package list was read on 2026-11-17. Update it when the image changes.
DEVICE_HAS = frozenset(
    """
    absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin
    jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities
    linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl
    meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
    narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti
    nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile
    nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
    nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime
    onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
    packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
    propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
    pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
    python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
    scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
    sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels
    sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
    tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
    torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
    urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split()
)
# Where the carried wheels will run: CPython 3.12 on Linux x86-64 (for requirement markers).
DEVICE_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def carried() -> list[str]:
    lines = (ROOT / "tools" / "gpu_wheels.txt").read_text().splitlines()
    return [canonical(line) for line in lines if line.strip() and not line.startswith("#")]


def pinned(name: str) -> str | None:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and canonical(line.split("==")[0]) == name:
            return line.split("==")[1].strip()
    return None


def requirements_of(name: str, markers: dict | None = None) -> set[str]:
    found = set()
    for line in importlib.metadata.requires(name) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(markers or {"extra": ""}):
            found.add(canonical(requirement.name))
    return found


def test_the_carry_list_is_pinned_and_missing_nothing():
    names = carried()
    assert {"ipykernel", "nbclient", "nbformat", "jupyter-client", "av"} <= set(names)
    assert len(names) == len(set(names)), "a name is listed twice"
    assert not set(names) & DEVICE_HAS, f"carried although the machine has them: {set(names) & DEVICE_HAS}"
    for name in names:
        assert pinned(name), f"{name} is carried but constraints.txt does not pin it (download needs a pin)"
        assert importlib.metadata.version(name) == pinned(name), f"{name}: .venv is not the pinned version"
        missing = requirements_of(name, DEVICE_MARKERS) - set(names) - DEVICE_HAS
        assert not missing, f"{name} needs {sorted(missing)}: neither carried nor on the GPU machine"


def link_distributions(names: set[str], into: Path) -> None:
    """Make ``into`` hold what these installed distributions put in site-packages (as links to it)."""
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        distribution = importlib.metadata.distribution(name)
        for top in {file.parts[0] for file in distribution.files or []}:
            if top.startswith("..") or top.endswith(".pth") or top == "__pycache__":
                continue  # scripts in bin/, and .pth hooks (an editable install's, setuptools' own)
            target, link = Path(distribution.locate_file(top)), into / top
            if target.exists() and not link.exists():
                link.symlink_to(target)


@pytest.fixture(scope="module")
def device_python(tmp_path_factory) -> Path:
    """A Python that has what the GPU machine has (found here) and none of Jupyter."""
    root = tmp_path_factory.mktemp("gpu-machine")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    installed = {canonical(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    has, todo = set(), list(DEVICE_HAS & installed)
    while todo:  # what the machine's packages need is on the machine too
        name = todo.pop()
        if name not in has and name in installed:
            has.add(name)
            todo.extend(requirements_of(name))
    assert {"torch", "numpy", "matplotlib", "pytest"} <= has and not has & set(carried())
    link_distributions(has, root / "machine-site")
    python = root / "venv" / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "gpu_machine.pth").write_text(str(root / "machine-site") + "\n")
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """This environment less its PYTHONPATH entries that lead to .venv's packages."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    keep = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and ".venv" not in p]
    env["PYTHONPATH"] = os.pathsep.join(keep)  # the network guard's sitecustomize stays
    return {**env, **extra}


def test_without_the_carried_packages_the_run_stops_and_says_how_to_carry_them(device_python, tmp_path):
    probe = subprocess.run(
        [
            device_python,
            "-c",
            "import torch, torchvision, matplotlib, pytest\n"
            "import importlib.util as u; print([m for m in ('ipykernel', 'nbclient', "
            "'nbformat', 'jupyter_client', 'IPython', 'av') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "[]", probe.stdout + probe.stderr
    out = subprocess.run(
        [
            device_python,
            ROOT / "tools" / "run_course_on_cuda.py",
            "--device",
            "cpu",
            "--results",
            tmp_path,
            "--notebooks",
            NOTEBOOK,
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "lacks nbformat, nbclient, jupyter_client, ipykernel" in out.stdout and "gpu_run.sh" in out.stdout


def test_gpu_run_sh_runs_a_notebook_with_the_carried_packages(device_python, tmp_path):
    site = tmp_path / "site"
    link_distributions(set(carried()), site)
    results, archive = tmp_path / "results", tmp_path / "results.tar.gz"
    env = clean_env(PYTHON=str(device_python), GPU_WHEELS=str(tmp_path / "no-wheels"), GPU_SITE=str(site))
    out = subprocess.run(
        [
            "bash",
            SCRIPT,
            "--device",
            "cpu",
            "--no-tests",
            "--results",
            results,
            "--archive",
            archive,
            "--notebooks",
            NOTEBOOK,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"{NOTEBOOK.name}: PASSED" in out.stdout
    summary = json.loads((results / "results.json").read_text())
    assert summary["ok"] and summary["notebooks"][0]["cells_compared"] >= 20
    assert (
        summary["machine"]["python"] == f"{sys.version_info.major}.{sys.version_info.minor}."
        f"{sys.version_info.micro}"
    )
    with tarfile.open(archive) as packed:
        assert "results/results.json" in packed.getnames()


WHEELS = os.environ.get("TENSORLAB_GPU_WHEELS")


@pytest.mark.skipif(
    not WHEELS,
    reason="the dry run with real wheels is opt-in, since fetching them needs the "
    "network: GPU_PY_VERSION=3.11 GPU_WHEELS=.whl-cp311 tools/gpu_run.sh download, then run "
    "this with TENSORLAB_GPU_WHEELS=.whl-cp311",
)
def test_dry_run_installs_the_downloaded_wheels_and_runs_a_notebook(device_python, tmp_path):
    """The whole recipe, as on the GPU machine: pip install --no-index --target from the wheels, then run."""
    wheels = sorted((ROOT / WHEELS).glob("*.whl"))
    assert {canonical(w.name.split("-")[0]) for w in wheels} == set(carried()), "download them again"
    env = clean_env(PYTHON=str(device_python), GPU_WHEELS=str(ROOT / WHEELS), GPU_SITE=str(tmp_path / "site"))
    out = subprocess.run(
        ["bash", SCRIPT, "--device", "cpu", "--results", tmp_path / "results", "--notebooks", NOTEBOOK],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"installing {len(wheels)} carried wheels" in out.stdout and f"{NOTEBOOK.name}: PASSED" in out.stdout
    assert "device-dependent tests: PASSED" in out.stdout
