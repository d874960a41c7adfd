#!/usr/bin/env bash
# One-shot GPU check of audiojax: devices and versions, the training-step benchmark, end-to-end
# tiny training runs (jit and pmap) with evaluation, the ASR decoding benchmark; log in
# $OUT/gpu_check.log (or ./gpu_check.log). Each part has its own timeout, and the whole script a
# deadline (GPU_CHECK_BUDGET seconds, default 400), so one hang does not eat the machine's time.
#
# Prepared here (this machine has the packages and the speech synthesizers, the GPU box does not):
#   echo /.whl/ >> .git/info/exclude; echo /.gpudata/ >> .git/info/exclude
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl grain==0.2.18 array_record==0.8.6 portpicker \
#     ml_collections==1.1.0 jiwer==4.0.0 RapidFuzz==3.14.6 tensorboardX==2.6.5 soundfile==0.14.0 \
#     cffi==2.1.1 pycparser==3.12 soxr==1.1.0
#   audiojax data build commands --size tiny; audiojax data build sentences --size tiny
#   .gpudata/ = commands_tiny, sentences_tiny (copies) + sentences_small with info.json and the
#   first 16 lines of test.tsv and their wavs (the batch benchmarks/asr_decode.py decodes).
# Launched on the GPU box (python3 3.12 with jax[cuda], flax, optax, orbax, torch) with the
# device tool's run: carry [".whl", ".gpudata"], timeout_s 420, command:
#   bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-$PWD}
LOG=$OUT/gpu_check.log
DEADLINE=$(( $(date +%s) + ${GPU_CHECK_BUDGET:-400} ))
export PYTHONUNBUFFERED=1 AUDIOJAX_DATA=$PWD/.gpudata
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
exec > >(tee -a "$LOG") 2>&1

part() {  # part NAME SECONDS CMD...: runs CMD under min(SECONDS, time left) and logs its status
  local name=$1 limit=$2; shift 2
  local left=$(( DEADLINE - $(date +%s) - 5 ))
  (( left < limit )) && limit=$left
  if (( limit < 15 )); then echo "=== SKIP $name (no time left)"; return 99; fi
  echo "=== $name (limit ${limit}s): $*"
  local t0=$EPOCHREALTIME rc
  timeout -k 5 "$limit" "$@"; rc=$?
  echo "=== $name: rc=$rc, $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $t0}") s"
  return $rc
}

part devices 60 bash -c 'nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
  python3 -c "import jax, flax, optax, orbax.checkpoint as o, torch, grain, numpy
from importlib.metadata import version as v
print(jax.devices(), \"jax\", jax.__version__, \"flax\", flax.__version__, \"optax\", optax.__version__,
      \"orbax\", v(\"orbax-checkpoint\"), \"torch\", torch.__version__, \"grain\", v(\"grain\"), \"numpy\", numpy.__version__)"'
part train_step 120 python3 benchmarks/train_step.py --repeats 10
part train_step_torch_cpu 120 python3 benchmarks/train_step.py --repeats 5 --torch-device cpu
part kws_tiny 90 python3 -m audiojax train --config experiments/kws_logmel_cnn.py:tiny --workdir /tmp/w1
part kws_eval 60 python3 -m audiojax evaluate --workdir /tmp/w1 --split test
part asr_tiny 120 python3 -m audiojax train --config experiments/asr_attention.py:tiny --workdir /tmp/w2
part asr_eval 90 python3 -m audiojax evaluate --workdir /tmp/w2 --split test
part kws_tiny_pmap 90 python3 -m audiojax train --config experiments/kws_logmel_cnn.py:tiny \
  --workdir /tmp/w3 --config.parallel=pmap
part asr_decode 150 python3 benchmarks/asr_decode.py --repeats 3
part train_step_bf16 120 python3 benchmarks/train_step.py --repeats 10 --compute-dtype bfloat16
part train_step_b256 120 python3 benchmarks/train_step.py --repeats 10 --batch 256
tar czf "$OUT/workdirs.tgz" --exclude='checkpoint*' /tmp/w1 /tmp/w2 /tmp/w3 2>/dev/null
echo "=== done, $(( DEADLINE - $(date +%s) )) s of the budget left"
