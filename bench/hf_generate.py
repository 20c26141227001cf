"""Hugging Face generate() on PyTorch with the KV cache, the settings of bench/generate.ts.

A model of the given shape (bench/models.ts as JSON: GPT2LMHeadModel for family "gpt2",
LlamaForCausalLM for "llama"; random weights, tokens/s does not depend on them), a batch of
prompts, sampling at temperature 1 with top-k and top-p off, exactly max_new tokens per row (no early
stop). One identical warm-up run, then `reps` timed runs; prints JSON with the median: tokens/s,
tokens, ms.
Usage: python bench/hf_generate.py SHAPE_JSON batch prompt_len max_new [reps]
"""
import json
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

S = json.loads(sys.argv[1])
V, T, C, L, H = (S[k] for k in ('vocabSize', 'context', 'width', 'layers', 'heads'))
B, P, NEW = (int(a) for a in sys.argv[2:5])
REPS = int(sys.argv[5]) if len(sys.argv) > 5 else 1
torch.manual_seed(1)
if S['family'] == 'gpt2':
    cfg = GPT2Config(vocab_size=V, n_positions=T, n_embd=C, n_layer=L, n_head=H, activation_function='gelu_new',
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg).eval()
else:
    if S['rope']['type'] != 'default':
        raise SystemExit(f"rope type {S['rope']['type']} is not benchmarked")
    cfg = LlamaConfig(vocab_size=V, hidden_size=C, num_hidden_layers=L, num_attention_heads=H, num_key_value_heads=S['kvHeads'],
                      head_dim=S['headDim'], intermediate_size=S['intermediate'], max_position_embeddings=T,
                      rms_norm_eps=S['rmsNormEps'], rope_theta=S['rope']['theta'], tie_word_embeddings=S['tie'],
                      attention_bias=S['qkvBias'], mlp_bias=S['mlpBias'], bos_token_id=0, eos_token_id=0)
    model = LlamaForCausalLM(cfg).eval()
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
print(json.dumps({'label': f'pytorch {torch.__version__} CPU ({torch.get_num_threads()} threads), transformers {type(model).__name__}.generate()', 'tokensPerS': n * 1000 / ms, 'tokens': n, 'ms': ms}))
