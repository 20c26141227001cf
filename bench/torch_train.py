"""The reference training step of bench/train.ts in PyTorch, for comparison on the same machine.

Same model (GPT-2 block: pre-LN, GELU tanh, tied head; vocab 512, width 128, 2 layers, 4 heads,
context 64 by default), AdamW, global-norm clipping at 1. `lora`: LoRA r=8, alpha 16 on every
projection (c_attn, attn c_proj, c_fc, mlp c_proj), everything else frozen, as bench/train.ts --lora.
Prints the median and minimum ms/step and the peak resident memory as JSON (the format of
bench/train.ts's workers).
`cuda`: on the GPU (eager, a torch.cuda.synchronize() ending each timed step); `bf16`: under
torch.autocast(bfloat16) there (weights and AdamW in fp32).
Usage: python bench/torch_train.py [steps] [vocab context width layers heads batch] [warmup] [full|lora] [cpu|cuda] [fp32|bf16]
"""
import json
import math
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, C, L, H, B = (int(a) for a in sys.argv[2:8]) if len(sys.argv) >= 8 else (512, 64, 128, 2, 4, 8)
WARMUP = int(sys.argv[8]) if len(sys.argv) > 8 else 3
LORA = len(sys.argv) > 9 and sys.argv[9] == 'lora'
DEVICE = sys.argv[10] if len(sys.argv) > 10 else 'cpu'
BF16 = len(sys.argv) > 11 and sys.argv[11] == 'bf16'


class Linear(nn.Linear):
    """nn.Linear with an optional LoRA adapter: y + (alpha/r)·x·Aᵀ·Bᵀ (A kaiming-uniform, B zeros)."""

    def add_lora(self, r=8, alpha=16):
        self.lora_a = nn.Parameter(torch.empty(r, self.in_features))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.lora_b = nn.Parameter(torch.zeros(self.out_features, r))
        self.scale = alpha / r

    def forward(self, x):
        y = super().forward(x)
        if hasattr(self, 'lora_a'):
            y = y + (x @ self.lora_a.T @ self.lora_b.T) * self.scale
        return y


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = Linear(C, 3 * C)
        self.c_proj = Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = Linear(C, 4 * C)
        self.mlp_proj = Linear(4 * C, C)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), 1), float('-inf')).softmax(-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate='tanh'))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(T, C)
        self.h = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.manual_seed(1)
    model = GPT()
    if LORA:
        for p in model.parameters():
            p.requires_grad_(False)
        for m in model.modules():
            if isinstance(m, Linear):
                m.add_lora()
    model.to(DEVICE)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.1)
    idx = torch.randint(0, V, (B, T + 1)).to(DEVICE)
    cuda = DEVICE == 'cuda'
    times = []
    for s in range(steps + WARMUP):
        t0 = time.perf_counter()
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=cuda and BF16):
            loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if cuda:
            torch.cuda.synchronize()
        if s >= WARMUP:
            times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(json.dumps({
        'label': (f'pytorch {torch.__version__} CUDA {torch.cuda.get_device_name()} eager {"bf16 autocast" if BF16 else "fp32"}' if cuda
                  else f'pytorch {torch.__version__} CPU ({torch.get_num_threads()} threads)') + (', LoRA' if LORA else ''),
        'ms': med,
        'min': min(times),
        'tokensPerS': B * T / (med / 1000),
        'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'detail': f'peak GPU memory allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MB' if cuda else '',
    }))


if __name__ == '__main__':
    main()
