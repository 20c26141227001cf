#!/usr/bin/env bash
# Both full exports (examples/seed.rlhf and examples/rlaif.rlhf, not --smoke) run to their end with the
# real stack in .venv (issue 26: at least once per change to the export; too long for CI on 2 cores).
# Usage: scripts/full-exports.sh [OUT_DIR] [extra `rlhfc compile` flags, e.g. --deterministic]
# Each project's run.sh log goes to OUT_DIR/<example>.log (run.sh prints every step's wall time); the
# summary (wall time, pretrain held-out perplexity, eval scores) is printed at the end. Runs under
# `nice` (shared machines). Mixed precision is the export's default (auto: fp32 on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-/tmp/rlhfc-full-exports}")
shift || true
PY=${RLHFC_PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || { echo "no Python at $PY (python3 -m venv .venv && .venv/bin/pip install -r requirements.txt)" >&2; exit 1; }
export PATH="$(dirname "$PY"):$PATH" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"
for ex in seed rlaif; do
  node bin/rlhfc.mjs compile "examples/$ex.rlhf" --target trl -o "$OUT/$ex" "$@"
  start=$(date +%s)
  status=0
  (cd "$OUT/$ex" && nice bash run.sh) >"$OUT/$ex.log" 2>&1 || status=$?
  echo "$ex: run.sh exit $status after $(( $(date +%s) - start )) s (log: $OUT/$ex.log)"
  grep -E '^== [^ ]+: [0-9.]+ s$' "$OUT/$ex.log" || true
  "$PY" - "$OUT/$ex" <<'PYEOF'
import json, math, sys
from pathlib import Path
out = Path(sys.argv[1]) / "outputs"
for m in sorted(out.glob("*/metrics.jsonl")):
    rows = [json.loads(l) for l in m.read_text().splitlines() if l.strip()]
    ev = {k: v for r in rows for k, v in r.items() if k.startswith("eval_") and isinstance(v, (int, float))}
    rt = [r["train_runtime"] for r in rows if "train_runtime" in r]
    keep = {k: round(v, 4) for k, v in ev.items() if k in ("eval_loss", "eval_perplexity", "eval_accuracy", "eval_rewards/accuracies")}
    print(f"  {m.parent.name}: {keep}" + (f", train_runtime {rt[-1]:.1f} s" if rt else ""))
for r in sorted(out.glob("*/report.json")):
    rep = json.loads(r.read_text())
    for x in rep["results"]:
        print(f"  {r.parent.name}: {x['model']} score {x['mean_score']:.3f} ± {x['stderr']:.3f}")
PYEOF
  [ "$status" = 0 ] || exit "$status"
done
