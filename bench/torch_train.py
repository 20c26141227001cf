"""The reference training step of bench/train.ts in PyTorch, for comparison on the same machine.

Same model, AdamW, global-norm clipping at 1, the loss over every position of the same batch shape.
The shape is bench/train.ts's config as JSON: `family` "gpt2" is a GPT-2 block written here (pre-LN,
GELU tanh, tied head; vocab 512, width 128, 2 layers, 4 heads, context 64 by default); the Llama
family ("llama") is transformers' LlamaForCausalLM with that config (RMSNorm, rotary, SwiGLU,
grouped-query attention; eager-mode PyTorch with transformers' default attention, sdpa).
`lora`: LoRA r=8, alpha 16, no dropout on every projection, everything else frozen, as bench/train.ts
--lora: GPT-2 here with its own adapter (c_attn, attn c_proj, c_fc, mlp c_proj), the Llama family with
PEFT (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
Prints the median and minimum ms/step and the peak resident memory as JSON (the format of
bench/train.ts's workers).
$RLHFC_TORCH_THREADS: torch.set_num_threads (default: torch's own, one per core; on a busy 2-core
machine two OpenMP threads can be several times slower than one: bench/llama-kernels.ts runs both).
`cuda`: on the GPU (eager, a torch.cuda.synchronize() ending each timed step); `bf16`: under
torch.autocast(bfloat16) there (weights and AdamW in fp32).
Usage: python bench/torch_train.py [steps] [config JSON] [warmup] [full|lora] [cpu|cuda] [fp32|bf16]
"""
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CFG = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {'family': 'gpt2', 'vocabSize': 512, 'context': 64, 'width': 128, 'layers': 2, 'heads': 4, 'batch': 8}
V, T, C, L, H, B = (CFG[k] for k in ('vocabSize', 'context', 'width', 'layers', 'heads', 'batch'))
WARMUP = int(sys.argv[3]) if len(sys.argv) > 3 else 3
LORA = len(sys.argv) > 4 and sys.argv[4] == 'lora'
DEVICE = sys.argv[5] if len(sys.argv) > 5 else 'cpu'
BF16 = len(sys.argv) > 6 and sys.argv[6] == 'bf16'


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


class HFLoss(nn.Module):
    """A transformers causal LM (optionally PEFT-wrapped) with the loss of GPT above: logits of every position, cross-entropy."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, idx, targets):
        logits = self.lm(input_ids=idx).logits
        return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    rope = CFG['rope']
    if rope['type'] != 'default':
        raise SystemExit(f"rope type {rope['type']} is not benchmarked")
    cfg = LlamaConfig(vocab_size=V, hidden_size=C, num_hidden_layers=L, num_attention_heads=H,
                      num_key_value_heads=CFG['kvHeads'], head_dim=CFG['headDim'], intermediate_size=CFG['intermediate'],
                      max_position_embeddings=T, rms_norm_eps=CFG['rmsNormEps'], rope_theta=rope['theta'],
                      tie_word_embeddings=CFG['tie'], attention_bias=CFG['qkvBias'], mlp_bias=CFG['mlpBias'],
                      hidden_act='silu', attention_dropout=0.0)
    model = LlamaForCausalLM(cfg)
    if LORA:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=[
            'q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']))
    return HFLoss(model)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if os.environ.get('RLHFC_TORCH_THREADS'):
        torch.set_num_threads(int(os.environ['RLHFC_TORCH_THREADS']))
    torch.manual_seed(1)
    if CFG['family'] == 'gpt2':
        model = GPT()
        if LORA:
            for p in model.parameters():
                p.requires_grad_(False)
            for m in model.modules():
                if isinstance(m, Linear):
                    m.add_lora()
    else:
        model = llama()
    model.train()
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
                  else f'pytorch {torch.__version__} CPU ({torch.get_num_threads()} threads)') + ('' if CFG['family'] == 'gpt2' else ', transformers LlamaForCausalLM')
                 + ((', PEFT LoRA' if CFG['family'] != 'gpt2' else ', LoRA') if LORA else ''),
        'ms': med,
        'min': min(times),
        'tokensPerS': B * T / (med / 1000),
        'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'detail': f'peak GPU memory allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MB' if cuda else '',
    }))


if __name__ == '__main__':
    main()
