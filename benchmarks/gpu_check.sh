#!/usr/bin/env bash
# The prepared GPU check: run it, once, whenever a machine with an NVIDIA GPU is at hand.
#
#   bash benchmarks/gpu_check.sh OUTDIR
#   DEVICE=cpu bash benchmarks/gpu_check.sh OUTDIR     # the same steps on torch's CPU: a
#                                                      # rehearsal on a machine with no GPU
#
# From the repository root, with a python3 whose torch sees CUDA and which has dlnsim's
# dependencies (numpy, scipy, sympy, matplotlib, tqdm, xarray, array-api-compat); the
# checkout is used in place (PYTHONPATH), nothing is installed. A package missing there can
# be carried as a wheel (the device tool's README): array-api-compat is the one the H200
# image lacks. Writes into OUTDIR (all JSON, plus the log):
#   device.json            the card, driver and library versions
#   validate_backend.json  `dlnsim validate-backend --device cuda` (full): numpy vs torch on
#                          the GPU over every rule, depths 1-4, S != I (tolerance 1e-9)
#   bench_ensemble.json    bench_ensemble.py: 256 networks of widths 16^5 under sqrt-NGD,
#                          50 discrete steps: loop of numpy runs, batched numpy, torch CPU,
#                          torch CUDA (member-steps/s and max rel diff against the loop)
#   sweep.json             a small sweep run with --device cuda against the same sweep on
#                          numpy processes: seconds each and the largest loss difference
# Budget: under 8 minutes on one H100/H200 (measured pieces on 2 CPU cores: validate-backend
# 29 s, the ensemble bench's CPU rows about 3 minutes at 256 members).
set -euo pipefail
out="${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}"
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
export DEVICE="${DEVICE:-cuda}"
log="$out/gpu_check.log"
: > "$log"
step() { echo "== $*" | tee -a "$log"; }

step "device"
"$py" - "$out/device.json" <<'PY' 2>&1 | tee -a "$log"
import json, sys, platform
missing = []
for name in ("numpy", "scipy", "sympy", "matplotlib", "tqdm", "xarray", "array_api_compat",
             "torch"):
    try:
        __import__(name)
    except ImportError:
        missing.append(name)
if missing:
    sys.exit(f"gpu_check: missing Python packages: {', '.join(missing)} (carry them as wheels)")
import os, torch
if os.environ["DEVICE"] == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
gpu = torch.cuda.is_available()
info = {"device": torch.cuda.get_device_name(0) if gpu else "cpu (rehearsal)",
        "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "capability": list(torch.cuda.get_device_capability(0)) if gpu else None}
import numpy, scipy, dlnsim
info.update(numpy=numpy.__version__, scipy=scipy.__version__, dlnsim=dlnsim.__version__)
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(info)
PY

step "dlnsim validate-backend --device $DEVICE (full)"
start=$(date +%s)
"$py" -m dlnsim validate-backend --device "$DEVICE" --json "$out/validate_backend.json" --quiet \
    2>&1 | tee -a "$log" || echo "validate-backend exited $?" | tee -a "$log"
echo "validate-backend: $(( $(date +%s) - start )) s" | tee -a "$log"

step "bench_ensemble.py: numpy, torch CPU and CUDA"
start=$(date +%s)
"$py" benchmarks/bench_ensemble.py --members 256 --steps 50 --loop-members 16 \
    --json "$out/bench_ensemble.json" 2>&1 | tee -a "$log"
echo "bench_ensemble: $(( $(date +%s) - start )) s" | tee -a "$log"

step "a small sweep with --device $DEVICE against numpy processes"
"$py" - "$out" <<'PY' 2>&1 | tee -a "$log"
import json, os, sys, tempfile, time
import numpy as np
from dlnsim import sweep
spec = {"name": "gpu check",
        "task": {"kind": "teacher_student", "n": 16, "rank": 3, "noise": 0.1},
        "grid": {"q": [float("inf"), 2.0, 1.0], "damping": [1e-6], "depth": [2, 4],
                 "width": [16], "seeds": 8},
        "time": {"t_end": 10.0, "points": 21, "chunk_size": 24}}
res = {}
with tempfile.TemporaryDirectory() as tmp:
    dev = os.environ["DEVICE"]
    for label, kw in ((dev, {"device": dev}), ("numpy processes", {})):
        t0 = time.perf_counter()
        ds = sweep.run(spec, os.path.join(tmp, label.split()[0]), **kw)
        res[label] = {"seconds": time.perf_counter() - t0,
                      "failed_members": int((ds.status.values != 0).sum())}
        res[label]["loss"] = ds.loss.values
diff = float(np.nanmax(np.abs(res[dev].pop("loss") - res["numpy processes"]["loss"])
                       / np.nanmax(np.abs(res["numpy processes"].pop("loss")))))
doc = {"members": 48, "runs": res, "max_rel_loss_diff": diff}
json.dump(doc, open(os.path.join(sys.argv[1], "sweep.json"), "w"), indent=1)
print(doc)
PY
step "done: $(ls "$out")"
