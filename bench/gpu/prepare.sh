#!/usr/bin/env bash
# Here (a machine with Node.js and node_modules): pack what bench/gpu/run.sh needs on a GPU machine
# that has no Node.js into .gpu-carry/ (git-ignored through .git/info/exclude by pack.sh): node,
# Dawn's dawn.node, the Vulkan/GL loader packages (from /work/shared/gpu/pack.sh, or $RLHFC_GPU_PACK),
# bench/train.ts bundled with esbuild, and the PyTorch side (bench/torch_train.py).
# Then send the checkout with .gpu-carry/ (the device tool: carry [".gpu-carry"]) and run there
#   bash bench/gpu/run.sh
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bash "${RLHFC_GPU_PACK:-/work/shared/gpu/pack.sh}"
npx esbuild bench/train.ts --bundle --platform=node --format=esm --external:webgpu --log-level=warning \
  --banner:js="import {createRequire as __rlhfcCreateRequire} from 'module'; const require = __rlhfcCreateRequire(import.meta.url);" \
  --outfile=.gpu-carry/train.mjs
cp bench/torch_train.py runtime/webgpu/probe.mjs .gpu-carry/
du -sh .gpu-carry
