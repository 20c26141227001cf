"""Hugging Face generate() on PyTorch with the KV cache, the settings of bench/generate.ts.

A GPT-2 model of the given shape (random weights; tokens/s does not depend on them), a batch of
prompts, sampling at temperature 1 with top-k and top-p off, exactly max_new tokens per row (no early
stop). One identical warm-up run, then `reps` timed runs; prints JSON with the median: tokens/s,
tokens, ms.
Usage: python bench/hf_generate.py vocab context width layers heads batch prompt_len max_new [reps]
"""
import json
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

V, T, C, L, H, B, P, NEW = (int(a) for a in sys.argv[1:9])
REPS = int(sys.argv[9]) if len(sys.argv) > 9 else 1
torch.manual_seed(1)
cfg = GPT2Config(vocab_size=V, n_positions=T, n_embd=C, n_layer=L, n_head=H, activation_function='gelu_new',
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(cfg).eval()
ids = torch.randint(0, V, (B, P))
mask = torch.ones_like(ids)
kw = dict(attention_mask=mask, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=NEW,
          min_new_tokens=NEW, use_cache=True, pad_token_id=0, eos_token_id=None)
with torch.inference_mode():
    model.generate(ids, **kw)  # warm-up
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        out = model.generate(ids, **kw)
        times.append((time.perf_counter() - t0) * 1000)
ms = sorted(times)[len(times) // 2]
n = (out.shape[1] - P) * B
print(json.dumps({'label': f'pytorch {torch.__version__} CPU ({torch.get_num_threads()} threads), transformers generate()', 'tokensPerS': n * 1000 / ms, 'tokens': n, 'ms': ms}))
