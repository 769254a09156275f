#!/usr/bin/env bash
# evalkit's GPU acceptance: one command for a CUDA machine, about 6 minutes on one H100 (README "GPU acceptance"; docs/gpu-results.md).
#
#   scripts/gpu_acceptance.sh [--dry-run] [--device cuda|cpu] [--runs] [--compile] [--limit N] [--num-crops N]
#                             [--max-new-tokens N] [--python PY] [--wheels DIR] [--reference DIR] [--out FILE]
#                             [--work DIR] [--cache-dir DIR]
#
#   1. check     the machine: CUDA, torch, the packages evalkit needs (scripts/gpu_results.py check)
#   2. conformance on CUDA: float32 reproduces the reference implementation's logits and greedy tokens for every
#                attention setting that runs there (sdpa_cudnn included), bfloat16 agrees with it
#                (tests/test_conformance_device.py); needs the fixture (--reference DIR, default
#                $EVALKIT_PHI3V_REFERENCE or ../shared/phi3v-reference)
#   3. decode    one process, the full-size random checkpoint (phi3v-random, bfloat16; made under ~/.cache/evalkit on
#                first use) loaded once (scripts/gpu_decode.py): eager loop at batch 1, the compiled loop (CUDA graph)
#                at batch 1 and 8 (128 new tokens after ~850 tokens), compiled-vs-eager tokens across position 4096,
#                energy (NVML), copy bandwidth, the top kernels of a profiler trace, each sdpa kernel twice
#   4. with --runs only: `python -m evalkit` over eager, sdpa, sdpa_flash (and flash_attention_2 when it imports),
#                sdpa in throughput mode at batch size 4 (+ runtime.compile=true with --compile), then
#                `pytest benchmarks/ -m "performance or memory"` over the same settings (each run loads the model)
#   5. docs/gpu-results.md (--out) written from the JSON and records of 3 and 4; commit it
#
# Every step runs even when an earlier one failed; the exit code is 1 when any step failed, 2 when the machine
# cannot run the acceptance at all. --dry-run prints the commands and runs nothing (works without a GPU).
# --device cpu runs the same decode script on the CPU with the tiny checkpoint and small sizes (a check of the code
# path, no GPU figure; results go to reports/gpu-acceptance/gpu-results-cpu.md unless --out is given).
# No network is needed: the model is random, and missing Python packages can come as wheels (--wheels DIR, made on
# a connected machine with `pip download --only-binary=:all: --python-version 3.12 -d DIR hydra-core jiwer ...`).
set -uo pipefail

DRY=0 LIMIT=2 CROPS=4 TOKENS=64 COMPILE=0 RUNS=0 DEVICE=cuda PY=${PYTHON:-python3} WHEELS="" OUT=""
WORK=reports/gpu-acceptance CACHE_DIR=$HOME/.cache/evalkit
REFERENCE=${EVALKIT_PHI3V_REFERENCE:-}
usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    --dry-run) DRY=1 ;;
    --limit) LIMIT=$2; shift ;;
    --num-crops) CROPS=$2; shift ;;
    --max-new-tokens) TOKENS=$2; shift ;;
    --compile) COMPILE=1 ;;
    --runs) RUNS=1 ;;
    --device) DEVICE=$2; shift ;;
    --python) PY=$2; shift ;;
    --wheels) WHEELS=$2; shift ;;
    --reference) REFERENCE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --work) WORK=$2; shift ;;
    --cache-dir) CACHE_DIR=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_acceptance: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

case $DEVICE in cuda|cpu) ;; *) echo "gpu_acceptance: --device must be cuda or cpu, got $DEVICE" >&2; exit 2 ;; esac
if [[ $DEVICE == cpu ]]; then OUT=${OUT:-$WORK/gpu-results-cpu.md}; else OUT=${OUT:-docs/gpu-results.md}; fi
cd "$(dirname "$0")/.." || exit 2
REPO=$PWD
REFERENCE=${REFERENCE:-$REPO/../shared/phi3v-reference}
STEPS=$WORK/steps.tsv
FAILED=0
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export HF_HUB_OFFLINE=1  # nothing is downloaded: the model is random, the tokenizer ships with evalkit

# step NAME TIMEOUT_S COMMAND...: print the command; run it unless --dry-run, and record its exit code and time.
step() {
  local name=$1 limit=$2
  shift 2
  printf '+ %s\n' "$(printf '%q ' "$@")"
  ((DRY)) && return 0
  local start=$SECONDS rc
  timeout "$limit" "$@"
  rc=$?
  printf '%s\t%d\t%d\n' "$name" "$rc" "$((SECONDS - start))" >>"$STEPS"
  ((rc == 0)) || { FAILED=1; echo "gpu_acceptance: step '$name' failed (exit $rc)" >&2; }
  return 0
}

if [[ -n $WHEELS ]]; then
  printf '+ %s\n' "$PY -m pip install -q --no-index --no-deps --target /tmp/evalkit-site $WHEELS/*.whl"
  if ((!DRY)); then
    "$PY" -m pip install -q --no-index --no-deps --target /tmp/evalkit-site "$WHEELS"/*.whl || exit 2
  fi
  export PYTHONPATH="$PYTHONPATH:/tmp/evalkit-site"
fi

if ((!DRY)); then
  CHECK=(check)
  ((RUNS)) && CHECK+=(--runs)
  if [[ $DEVICE == cuda ]]; then "$PY" scripts/gpu_results.py "${CHECK[@]}" || exit 2; fi
  rm -rf "$WORK" && mkdir -p "$WORK"
fi

# 2. Conformance on CUDA; a missing fixture is a failed step, never a silent skip. (On the CPU, tests/ covers it.)
if [[ $DEVICE == cpu ]]; then
  echo "# conformance left out: --device cpu (tests/test_model.py and tests/test_conformance_device.py run on the CPU)"
elif [[ -f $REFERENCE/cases.json ]] || ((DRY)); then
  step conformance 600 env EVALKIT_TEST_DEVICE=cuda EVALKIT_PHI3V_REFERENCE="$REFERENCE" \
    "$PY" -m pytest tests/test_conformance_device.py -p no:cacheprovider -q -rs
else
  echo "gpu_acceptance: conformance fixture not found at $REFERENCE (--reference DIR)" >&2
  ((DRY)) || printf 'conformance\t2\t0\n' >>"$STEPS"
  FAILED=1
fi

# 3. The decode loop in one process, the checkpoint loaded once (scripts/gpu_decode.py).
if [[ $DEVICE == cuda ]]; then
  step decode 600 "$PY" scripts/gpu_decode.py --device cuda --size full --cache-dir "$CACHE_DIR" \
    --out "$WORK/decode.json"
else
  step decode 900 "$PY" scripts/gpu_decode.py --device cpu --size tiny --dtype float32 --num-crops 1 --context 400 \
    --new-tokens 8 --batch 2 --reps 1 --long-prompt 0 --attn sdpa,sdpa_math --energy-window-s 0.2 \
    --cache-dir "$CACHE_DIR" --out "$WORK/decode.json"
fi

if ((RUNS)); then
ATTNS=(eager sdpa sdpa_flash)
if "$PY" scripts/gpu_results.py has-flash-attn 2>/dev/null; then
  ATTNS+=(flash_attention_2)
else
  echo "# flash_attention_2 left out: the flash-attn package does not import here (sdpa_flash is PyTorch's own)"
fi
ATTN_LIST=$(IFS=,; echo "${ATTNS[*]}")
# 4a. (--runs) The full-size random model, bfloat16, each attention setting (+ throughput mode at batch 4, + compile).
CKPT=$CACHE_DIR/phi3v-full-seed0
if [[ ! -f $CKPT/config.json ]]; then
  step checkpoint 900 "$PY" -m evalkit make-checkpoint "$CKPT" --size full --family phi3v --seed 0 --overwrite
fi
COMMON=(model=phi3v-random runtime.device=cuda runtime.dtype=bfloat16 "runtime.num_crops=$CROPS"
  "runtime.max_new_tokens=$TOKENS" "limit=$LIMIT" "output_dir=$WORK/runs" progress=false)
for attn in "${ATTNS[@]}"; do
  step "run $attn" 600 "$PY" -m evalkit "${COMMON[@]}" "runtime.attn=$attn" "name=gpu-bfloat16-$attn"
done
step "run sdpa throughput bs4" 600 "$PY" -m evalkit "${COMMON[@]}" runtime.attn=sdpa runtime.mode=throughput \
  runtime.batch_size=4 name=gpu-bfloat16-sdpa-throughput-bs4
if ((COMPILE)); then
  step "run sdpa compile" 600 "$PY" -m evalkit "${COMMON[@]}" runtime.attn=sdpa runtime.compile=true \
    name=gpu-bfloat16-sdpa-compile
fi

# 4b. (--runs) The performance and memory gates over the same settings. phi3v-random has no committed baseline,
#    so the eager run of step 4a becomes this machine's baseline (--force: it is a --limit run): the memory gate then checks
#    every setting's peak GPU memory against eager's on the same GPU; the latency figures go to the benchmark JSON.
BASELINES=$WORK/baselines
EAGER_RUN=$(ls -d "$WORK"/runs/*/*-gpu-bfloat16-eager 2>/dev/null | head -n 1)
step "baseline from eager" 120 "$PY" -m evalkit baseline save "${EAGER_RUN:-$WORK/runs/<eager run>}" --root "$BASELINES" \
  --name acceptance --force
step benchmarks 900 "$PY" -m pytest benchmarks/ -p no:cacheprovider -m "performance or memory" -rA \
  --model phi3v-random --dtype bfloat16 --attn "$ATTN_LIST" --device cuda --num-crops "$CROPS" \
  --max-new-tokens "$TOKENS" --limit "$LIMIT" --perf-samples 1 --perf-rounds 3 --perf-warmup 1 \
  --baseline "$BASELINES/phi3v-random/acceptance.json" \
  --runs-dir "$WORK/bench-runs" --benchmark-json "$WORK/benchmarks.json"
fi

# 5. The results file, from the records above (also when a step failed: the steps table says which).
RESULTS_ARGS=(--decode "$WORK/decode.json" --steps "$STEPS" --out "$OUT")
((RUNS)) && RESULTS_ARGS+=(--runs "$WORK/runs" --bench "$WORK/benchmarks.json")
step results 120 "$PY" scripts/gpu_results.py write "${RESULTS_ARGS[@]}"

if ((DRY)); then
  echo "# dry run: nothing was run"
  exit 0
fi
exit "$FAILED"
