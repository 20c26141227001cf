"""The reference of bench/llama-kernels.ts --torch: the same LoRA training step in PyTorch.

A SmolLM2-135M-shaped Llama (vocab 49,152, hidden 576, 9 heads, 3 KV heads, intermediate 1,536, tied;
`layers` layers) from transformers' LlamaForCausalLM (random weights, SDPA attention), LoRA r=8,
alpha 16 on q/k/v/o/gate/up/down through PEFT, AdamW (lr 3e-4, weight decay 0.1) with global-norm
clipping at 1, on random tokens of batch × seq. Prints the median and fastest ms/step and the peak
resident memory as JSON.
`threads`: torch.set_num_threads (default: torch's own, one per core). On a busy 2-core machine two
OpenMP threads can be several times slower than one, so bench/llama-kernels.ts runs both.
Usage: python bench/torch_llama_step.py [layers batch seq steps warmup [threads]]
"""
import json
import resource
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

L, B, T, STEPS, WARMUP = (int(a) for a in sys.argv[1:6]) if len(sys.argv) >= 6 else (4, 2, 128, 5, 2)
if len(sys.argv) > 6:
    torch.set_num_threads(int(sys.argv[6]))
torch.manual_seed(1)
config = LlamaConfig(vocab_size=49152, hidden_size=576, num_hidden_layers=L, num_attention_heads=9, num_key_value_heads=3, head_dim=64,
                     intermediate_size=1536, rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, max_position_embeddings=2048,
                     attn_implementation='sdpa')
model = LlamaForCausalLM(config)
model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                         target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']))
model.train()
params = [p for p in model.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.1)
ids = torch.randint(0, 49152, (B, T + 1))
x, y = ids[:, :-1], ids[:, 1:]


def step():
    logits = model(input_ids=x).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


times = []
for s in range(WARMUP + STEPS):
    t0 = time.perf_counter()
    step()
    if s >= WARMUP:
        times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({'stepMs': statistics.median(times), 'minMs': min(times), 'rssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  'threads': torch.get_num_threads(), 'torch': torch.__version__}))
