"""The TRL side of scripts/dpo-lockstep.ts (issue 26's DPO gap): run the exported DPO stage script itself
(OUT/export/stages/pref.py: TRL's DPOTrainer with the DPOConfig `rlhfc compile --target trl` writes) from
the policy rlhfc started from, with one change: its training sampler yields the batches rlhfc's stage drew,
in rlhfc's order (OUT/lockstep.json). Then compare, step by step, what both engines logged (loss, gradient
norm before clipping, learning rate; the held-out loss, rewards of chosen and rejected, reward accuracy
and margin evaluated after every step) and the weights after the last step; print a table and, on the
last line, the comparison as JSON.

  .venv/bin/python scripts/dpo_lockstep.py OUT [--trl-order]

--trl-order: keep the Trainer's own sampler (its seeded RandomSampler), to measure what batch order alone does.
Runs with RLHF_DETERMINISTIC=1 and RLHF_MIXED_PRECISION=no (fp32), as the parity test's export.
"""

import argparse
import json
import os
import runpy
import sys
from pathlib import Path

# what each engine calls the logged quantities: rlhfc metrics.jsonl key -> TRL log_history key
TRAIN = {"loss": "loss", "grad_norm": "grad_norm", "lr": "learning_rate"}
EVAL = {
    "eval_loss": "eval_loss",
    "rewards/chosen": "eval_rewards/chosen",
    "rewards/rejected": "eval_rewards/rejected",
    "reward_accuracy": "eval_rewards/accuracies",
    "reward_margin": "eval_rewards/margins",
}


def run_trl(run: dict, out: str, trl_order: bool) -> list[dict]:
    """The exported stage script, its sampler replaced by rlhfc's batch order; returns its log history."""
    os.environ.setdefault("RLHF_DETERMINISTIC", "1")
    os.environ.setdefault("RLHF_MIXED_PRECISION", "no")
    sys.path.insert(0, run["export"])  # rlhf_export
    import torch
    import trl

    order = [i for batch in run["order"] for i in batch]

    class RlhfcOrder(torch.utils.data.Sampler):
        def __iter__(self):
            return iter(order)

        def __len__(self):
            return len(order)

    class Locked(trl.DPOTrainer):
        own = trl_order
        made = None

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            Locked.made = self

        def _get_train_sampler(self, train_dataset=None):
            n = len(train_dataset if train_dataset is not None else self.train_dataset)
            if n != run["trainPairs"]:
                raise SystemExit(f"DPOTrainer kept {n} training pairs, rlhfc {run['trainPairs']}: the indices would not match")
            return super()._get_train_sampler(train_dataset) if Locked.own else RlhfcOrder()

    trl.DPOTrainer = Locked  # the stage script does `from trl import DPOTrainer`
    argv = sys.argv
    sys.argv = [run["script"], "--model", run["startModel"], "--data", run["data"], "--out", out]
    try:
        runpy.run_path(run["script"], run_name="__main__")
    finally:
        sys.argv = argv
    # the batches of an epoch the Trainer gives by itself (its own sampler and dataloader)
    Locked.own = True
    own_batches = len(Locked.made.get_train_dataloader())
    return [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines()], own_batches


def weights(folder: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "model.safetensors"))


def compare(run: dict, history: list[dict], out: str, own_batches: int) -> dict:
    import torch

    ours = [json.loads(line) for line in Path(run["rlhfcNode"], "metrics.jsonl").read_text().splitlines()]
    ours = [r for r in ours if "step" in r and "loss" in r]
    train = {r["step"]: r for r in history if "loss" in r and "step" in r}
    evals = {r["step"]: r for r in history if "eval_loss" in r and "step" in r}
    steps = []
    for r in ours:
        s = r["step"]
        t, e = train.get(s, {}), evals.get(s, {})
        row = {"step": s}
        for k, tk in TRAIN.items():
            row[k] = [r.get(k), t.get(tk)]
        for k, tk in EVAL.items():
            row[k] = [r.get(k), e.get(tk)]
        steps.append(row)
    a, b = weights(Path(run["rlhfcNode"], "model")), weights(out)
    start = weights(run["startModel"])
    w = {}
    for name, x in a.items():
        y, x0 = b.get(name), start[name]
        if y is None:  # the tied head is saved once
            continue
        if name.endswith("attn.c_attn.bias"):
            # The key bias (the middle third) has a gradient of exactly 0 (it shifts every score of a query
            # alike, which softmax ignores): both engines hand AdamW float noise there, which it scales up to
            # steps of size lr, so those entries are noise in both and are not compared.
            keep = torch.ones_like(y, dtype=torch.bool)
            keep[y.numel() // 3 : 2 * y.numel() // 3] = False
            x, y, x0 = x[keep], y[keep], x0[keep]
        w[name] = {"rel": ((x - y).norm() / y.norm().clamp_min(1e-12)).item(), "moved": (y - x0).norm().item(), "diff": (x - y).norm().item()}
    return {"steps": steps, "weights": w, "trl_steps": len(train), "rlhfc_steps": len(ours), "trl_own_batches_per_epoch": own_batches}


def show(c: dict) -> None:
    print(f"steps: rlhfc {c['rlhfc_steps']}, TRL {c['trl_steps']} (TRL's own dataloader: {c['trl_own_batches_per_epoch']} batches an epoch)")
    print("step  loss rlhfc / TRL      grad norm rlhfc / TRL   lr rlhfc / TRL        held-out loss       rewards/chosen        rewards/rejected      accuracy")
    f = lambda p, d=4: " / ".join("—" if v is None else f"{v:.{d}f}" for v in p)  # noqa: E731
    for r in c["steps"]:
        if r["step"] <= 5 or r["step"] % 10 == 0 or r["step"] == c["steps"][-1]["step"]:
            print(f'{r["step"]:4d}  {f(r["loss"])}   {f(r["grad_norm"])}   {" / ".join(f"{v:.2e}" if v is not None else "—" for v in r["lr"])}   {f(r["eval_loss"])}   {f(r["rewards/chosen"])}   {f(r["rewards/rejected"])}   {f(r["reward_accuracy"], 3)}')
    worst = max(c["weights"].items(), key=lambda kv: kv[1]["diff"] / max(kv[1]["moved"], 1e-12))
    print(f"weights after the last step: largest relative difference {max(v['rel'] for v in c['weights'].values()):.2e}; "
          f"largest difference / distance moved {worst[1]['diff'] / max(worst[1]['moved'], 1e-12):.2e} ({worst[0]})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--trl-order", action="store_true")
    a = ap.parse_args()
    run = json.loads(Path(a.out, "lockstep.json").read_text())
    trl_out = str(Path(a.out, "trl-own-order" if a.trl_order else "trl"))
    history, own_batches = run_trl(run, trl_out, a.trl_order)
    c = compare(run, history, trl_out, own_batches)
    show(c)
    print(json.dumps(c))


if __name__ == "__main__":
    main()
