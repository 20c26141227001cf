"""The reference training step of bench/train.ts in PyTorch, for comparison on the same machine.

Same model (GPT-2 block: pre-LN, GELU tanh, tied head; vocab 512, width 128, 2 layers, 4 heads,
context 64), batch 8, AdamW, global-norm clipping at 1. Prints the median and minimum ms/step as JSON.
Usage: python3 bench/torch_train.py [steps] [vocab context width layers heads batch]
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, C, L, H, B = (int(a) for a in sys.argv[2:8]) if len(sys.argv) >= 8 else (512, 64, 128, 2, 4, 8)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.c_attn = nn.Linear(C, 3 * C)
        self.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C)
        self.c_fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(b, t, H, c // H).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // H)
        att = att.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float('-inf')).softmax(-1)
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
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.h:
            x = blk(x)
        logits = self.ln_f(x) @ self.wte.weight.T
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.manual_seed(1)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    idx = torch.randint(0, V, (B, T + 1))
    times = []
    for s in range(steps + 3):
        t0 = time.perf_counter()
        loss = model(idx[:, :-1], idx[:, 1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if s >= 3:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({'backend': f'pytorch {torch.__version__} ({torch.get_num_threads()} threads)', 'ms_per_step': statistics.median(times), 'min_ms': min(times), 'tokens_per_s': B * T / (statistics.median(times) / 1000)}))


if __name__ == '__main__':
    main()
