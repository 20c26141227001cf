#!/usr/bin/env bash
# There (the GPU machine, from the checkout's root, after bench/gpu/prepare.sh here): the training-step
# benchmark on WebGPU (Dawn on the GPU's Vulkan driver) and on PyTorch CUDA, eager fp32 and bf16
# autocast, for the reference, large and GPT-2-small configs, from one run; --profile adds the WebGPU
# kernels per step and their GPU time. The log goes to $OUT (the device tool's folder) when set.
# Extra arguments go to bench/train.ts (e.g. --lora, --steps 10, --config gpt2).
set -uo pipefail
source .gpu-carry/setup.sh
out=${OUT:-.}
{
  date -u
  nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  "$NODE" .gpu-carry/probe.mjs | grep adapter
  "$NODE" .gpu-carry/train.mjs --config ref,large,gpt2 --only webgpu,pytorch-cuda,pytorch-cuda-bf16 --profile "$@"
} 2>&1 | grep -v 'artificially reduced' | tee "$out/train-gpu.log"
