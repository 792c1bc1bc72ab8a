"""The package's non-Python files: the CUDA sources of the CuPy kernels.

``sknorm/_kernels/cuda/*.cu`` (one file per kernel family, with the shared
``common.cuh``) are read at run time by ``sknorm._kernels.cupy_fused``
through ``importlib.resources``; a wheel or sdist without them would import
fine and fail on the first CuPy fit.  These tests check that the files are
package data and that a wheel built from this checkout, installed (unpacked)
on its own, finds them.
"""

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from sknorm._kernels import cupy_fused

ROOT = Path(__file__).resolve().parents[1]
KERNEL = re.compile(r'extern "C" __global__ void (\w+)\(')


def _cuda_files():
    return sorted(
        p.name for p in resources.files("sknorm._kernels").joinpath("cuda").iterdir()
    )


def test_every_family_is_one_cuda_file_of_the_package():
    expected = sorted([*(f"{f}.cu" for f in cupy_fused.FAMILIES), "common.cuh"])
    assert _cuda_files() == expected


def test_every_launched_kernel_is_defined_in_exactly_one_family():
    """The launcher finds each kernel's family by name: every name it
    launches is defined once, in one family's translation unit."""
    defined = {}
    for family in cupy_fused.FAMILIES:
        for name in KERNEL.findall(cupy_fused.source(family, "double")):
            assert name not in defined, (name, family, defined.get(name))
            defined[name] = family
    launcher = Path(cupy_fused.__file__).read_text()
    launched = set(re.findall(r'_kernel\(\s*"(\w+)"', launcher))
    assert launched, "no kernel launches found in cupy_fused"
    assert launched == set(defined)


def test_translation_units_are_self_contained():
    """No include is left for the compiler to resolve (CuPy caches a
    module by its text: an included header's edits would not reach it), and
    every placeholder is filled in."""
    for family in cupy_fused.FAMILIES:
        for type_name in ("float", "double"):
            code = cupy_fused.source(family, type_name)
            assert "#include" not in code
            assert not re.search(r"__(T|ROWS|UNROLL|COMBINE)__", code)
            assert f"typedef {type_name} T;" in code
    with pytest.raises(ValueError, match="unknown kernel family"):
        cupy_fused.source("nonsense", "double")


def _build(kind, project, out):
    """``build_meta.build_<kind>`` of ``project`` in a subprocess (no network,
    no build isolation: the installed setuptools)."""
    code = (
        "import sys; from setuptools import build_meta; "
        f"print(build_meta.build_{kind}(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_wheel_and_sdist_carry_the_cuda_sources(tmp_path):
    # The pyproject's license expression needs setuptools 77.
    pytest.importorskip("setuptools", minversion="77")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "sknorm",
        project / "sknorm",
        ignore=shutil.ignore_patterns("__pycache__", "*.so"),
    )
    out = tmp_path / "dist"
    out.mkdir()
    cuda = [f"sknorm/_kernels/cuda/{name}" for name in _cuda_files()]

    wheel = _build("wheel", project, out)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert set(cuda) <= names
        installed = tmp_path / "site"
        archive.extractall(installed)
    sdist = _build("sdist", project, out)
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert set(cuda) <= members

    # The unpacked wheel on its own (first on sys.path, away from this
    # checkout) finds its sources through importlib.resources.
    check = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from sknorm._kernels import cupy_fused as c; "
        "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
        "print(sum(len(c.source(f, t)) > 0 "
        "for f in c.FAMILIES for t in ('float', 'double')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check, str(installed)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(2 * len(cupy_fused.FAMILIES))
