#!/usr/bin/env bash
# The GPU check, run from the repository root on a machine with CuPy and a
# CUDA GPU (the lent device machine: bare, no network).  Wheels of the pure
# Python packages it lacks (and of scikit-learn, for the version CI uses) go
# in .gpu/ beforehand:
#   ../shared/gpu/prepare.sh   (array-api-compat, array-api-extra)
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux_2_28_x86_64 -d .gpu scikit-learn==1.9.1 array-api-strict
# Steps, each under its own time limit so that one hang leaves the others:
#   1. versions and the device;
#   2. the tests that touch the GPU (CuPy and torch-CUDA backends, the CuPy
#      kernel tests), 6 processes;
#   3. benchmarks/run.py --backend cupy (10,000,000 x 64, both dtypes);
#   4. benchmarks/probe_whitening.py: the parts of a ZCA fit;
#   5. benchmarks/profile_partial_fit.py: the host side of small batches.
# Logs and the JSON land in $OUT (or /tmp/out).  SKIP_PROBES=1 stops after 3;
# TESTS_S, BENCH_S and BENCH_ARGS size the steps.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
TESTS_S=${TESTS_S:-150}
BENCH_S=${BENCH_S:-210}
BENCH_ARGS=${BENCH_ARGS:---repeat 5}

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --target /tmp/site .gpu/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD SCIPY_ARRAY_API=1 PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'EOF'
import sys, numpy, scipy, sklearn, cupy, torch
print("python", sys.version.split()[0], "numpy", numpy.__version__,
      "scipy", scipy.__version__, "sklearn", sklearn.__version__,
      "cupy", cupy.__version__, "torch", torch.__version__,
      "cuda", torch.cuda.is_available())
import sknorm
print("sknorm", sknorm.__version__)
EOF

echo "== tests touching the GPU"
# -p no:benchmark: pytest-benchmark warns under xdist, and warnings are errors.
timeout "$TESTS_S" python3 -m pytest -q -p no:cacheprovider -p no:benchmark -n 6 -rfE \
  --timeout=90 -k "cupy or cuda or gpu" tests 2>&1 | tee "$OUT/gpu-tests.log" | tail -80
rc=${PIPESTATUS[0]}

echo "== benchmarks/run.py --backend cupy $BENCH_ARGS"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of options
timeout "$BENCH_S" python3 benchmarks/run.py --backend cupy $BENCH_ARGS \
  --json "$OUT/gpu-bench.json" --markdown 2>&1 | tee "$OUT/gpu-bench.log"
if [ -n "${SKIP_PROBES:-}" ]; then exit "$rc"; fi
echo "== where ZCAWhitening.fit spends its time"
timeout 40 python3 benchmarks/probe_whitening.py 2>&1 | tee "$OUT/gpu-probe.log"
echo "== host-side profile of small-batch partial_fit"
timeout 40 python3 benchmarks/profile_partial_fit.py --backend cupy 2>&1 | tee "$OUT/gpu-profile.log" | grep -E "per call|tottime|\.py" | head -60
exit "$rc"
