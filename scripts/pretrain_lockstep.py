"""The PyTorch side of scripts/pretrain-lockstep.ts (issue 26): train GPT2LMHeadModel from OUT/init on the
batches in OUT/batches.json as the TRL export's Trainer would (torch.optim.AdamW over
Trainer.get_decay_parameter_names, get_cosine_schedule_with_warmup, clip_grad_norm_), print the gradients'
relative error against rlhfc's at step 0 (OUT/grads0.json) and both engines' loss, gradient norm and rate
side by side (OUT/rlhfc.json).

  .venv/bin/python scripts/pretrain_lockstep.py OUT [--rlhfc-schedule] [--rlhfc-decay]

--rlhfc-schedule: rlhfc's old warm-up, lr·(s+1)/warmup (one step ahead of Transformers').
--rlhfc-decay: rlhfc's old decay rule (embeddings not decayed).
The optimizer settings are the seed's `base` stage's: lr 3e-3, betas (0.9, 0.999), eps 1e-8, weight decay
0.1, warm-up 30, cosine over 1,000 steps, clipping at 1.0 (as scripts/pretrain-lockstep.ts uses them).
"""

import argparse
import json
import math

import torch
import torch.nn.functional as F
from transformers import GPT2LMHeadModel, Trainer, get_cosine_schedule_with_warmup

LR, WD, WARMUP, TOTAL, CLIP = 3e-3, 0.1, 30, 1000, 1.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rlhfc-schedule", action="store_true")
    ap.add_argument("--rlhfc-decay", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_pretrained(a.out + "/init", dtype=torch.float32)
    model.train()
    decay = set(Trainer.get_decay_parameter_names(None, model))
    if a.rlhfc_decay:
        decay = {n for n in decay if "wte" not in n and "wpe" not in n}
    named = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if n in decay], "weight_decay": WD}, {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8,
    )
    if a.rlhfc_schedule:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / WARMUP if s < WARMUP else 0.5 * (1 + math.cos(math.pi * (s - WARMUP) / (TOTAL - WARMUP))))
    else:
        sched = get_cosine_schedule_with_warmup(opt, WARMUP, TOTAL)
    batches = json.load(open(a.out + "/batches.json"))
    grads0 = json.load(open(a.out + "/grads0.json"))
    log = []
    for s, rows in enumerate(batches):
        x = torch.tensor(rows)
        logits = model(input_ids=x[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if s == 0:
            for n, p in named:
                ours = torch.tensor(grads0[n]).reshape(p.grad.shape)
                print(f"step 0 gradient {n:40s} relative error {((ours - p.grad).norm() / p.grad.norm()).item():.1e}")
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        log.append({"step": s, "loss": loss.item(), "gradNorm": norm.item(), "lr": opt.param_groups[0]["lr"]})
        opt.step()
        sched.step()
    json.dump(log, open(a.out + "/torch.json", "w"))
    ours = json.load(open(a.out + "/rlhfc.json"))
    print("step  loss rlhfc / torch   grad norm rlhfc / torch   lr rlhfc / torch")
    for r, t in zip(ours, log):
        if r["step"] % 5 == 0 or r["step"] == len(log) - 1:
            print(f'{r["step"]:4d}  {r["loss"]:.4f} / {t["loss"]:.4f}   {r["gradNorm"]:.4f} / {t["gradNorm"]:.4f}   {r["lr"]:.3e} / {t["lr"]:.3e}')


if __name__ == "__main__":
    main()
