"""PPO for RLHF on Accelerate: rlhfc's `ppo` stage, readable, in one file.

TRL 1.x has no PPO trainer (it moved to `trl.experimental` in 0.26 and left the package), so the
export ships this one. It has the classic semantics the local runtime implements
(runtime/stages/ppo.ts and runtime/rl/, after TRL's classic PPOTrainer):

  each step: batch_size prompts → sample responses with the policy → score them (reward model or
  rule judge; optional running-std scaling and clipping) → per-token KL to the frozen reference
  (k1 / abs / mse) times β, the score added at the last response token → optional reward
  whitening (no mean shift) → GAE over the response → advantages whitened over the batch →
  ppo_epochs passes of shuffled mini-batches with the clipped policy loss and the clipped value
  loss → the KL controller (adaptive after Ziegler et al. 2019, or fixed) updates β.

The math is in plain functions below (masked_mean … ppo_loss, AdaptiveKL, RunningMoments);
tests/interop/ppo-math.test.ts feeds the same batch to them and to runtime/rl and compares.

Processes: `batch_size` and `mini_batch_size` are global, as in rlhfc. With P processes each
samples and scores batch_size / P prompts; the rollout is then gathered so every process computes
the same rewards, advantages and whitening over the whole batch; each global mini-batch is split
between the processes and DDP averages their gradients. So one step is always batch_size prompts
and ppo_epochs × batch_size / mini_batch_size optimizer updates, whatever P is.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# ---- math (mirrors runtime/rl/advantages.ts, control.ts, losses.ts) -------------------------


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    n = mask.sum()
    return (x * mask).sum() / n if n > 0 else torch.zeros((), dtype=x.dtype)


def masked_var(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Unbiased (Bessel) masked variance; 0 for fewer than two selected values."""
    n = mask.sum()
    if n <= 1:
        return torch.zeros((), dtype=x.dtype)
    mean = masked_mean(x, mask)
    return ((x - mean) ** 2 * mask).sum() / n * (n / (n - 1))


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return out if shift_mean else out + mean


def kl_per_token(logp: torch.Tensor, ref_logp: torch.Tensor, penalty: str) -> torch.Tensor:
    d = logp - ref_logp
    if penalty == "kl":
        return d
    if penalty == "abs":
        return d.abs()
    if penalty == "mse":
        return 0.5 * d * d
    raise ValueError(f"unknown KL penalty {penalty!r} (expected kl, abs or mse)")


def length_reward(n: int, a) -> float:
    """Length shaping of a response of n tokens (end-of-text counted), as runtime/rl/length.ts: the soft
    over-length punishment (DAPO; TRL's get_soft_overlong_punishment) and the short-answer floor."""
    r = 0.0
    if a.overlong_cache > 0:
        L, c = a.max_new_tokens, a.overlong_cache
        r += a.overlong_weight * (0.0 if n <= L - c else (L - c - n) / c if n <= L else -1.0)
    if a.length_floor > 0 and n < a.length_floor:
        r += a.floor_weight * (n - a.length_floor) / a.length_floor
    return r


def compute_rewards(scores, logprobs, ref_logprobs, mask, beta: float, penalty: str = "kl"):
    """Per-token rewards −β·kl with the score added at the last response token: (rewards, non_score, kl)."""
    kl = kl_per_token(logprobs, ref_logprobs, penalty) * mask
    non_score = -beta * kl
    rewards = non_score.clone()
    for b in range(mask.shape[0]):
        idx = mask[b].nonzero()
        if len(idx):
            rewards[b, idx[-1, 0]] += scores[b]
    return rewards, non_score, kl


def gae(values, rewards, mask, gamma: float, lam: float):
    """Generalised advantage estimation per row (values and rewards masked first); returns (advantages, returns)."""
    v, r = values * mask, rewards * mask
    T = v.shape[1]
    adv = torch.zeros_like(v)
    last = torch.zeros_like(v[:, 0])
    for t in reversed(range(T)):
        nxt = v[:, t + 1] if t < T - 1 else torch.zeros_like(last)
        delta = r[:, t] + gamma * nxt - v[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    return adv, adv + v


def compute_advantages(values, rewards, mask, gamma: float, lam: float):
    adv, returns = gae(values, rewards, mask, gamma, lam)
    return whiten(adv, mask) * mask, returns


def ppo_loss(logprobs, old_logprobs, values, old_values, advantages, returns, mask, cliprange: float, cliprange_value: float, vf_coef: float, entropy=None, entropy_coef: float = 0.0):
    """Clipped surrogate + vf_coef · clipped value loss − entropy_coef · entropy (masked means; the
    entropy bonus needs the per-token `entropy`); returns (loss, stats)."""
    v_clipped = old_values + (values - old_values).clamp(-cliprange_value, cliprange_value)
    vf1, vf2 = (values - returns) ** 2, (v_clipped - returns) ** 2
    vf_loss = 0.5 * masked_mean(torch.maximum(vf1, vf2), mask)
    log_ratio = logprobs - old_logprobs
    ratio = log_ratio.exp()
    pg1 = -advantages * ratio
    pg2 = -advantages * ratio.clamp(1 - cliprange, 1 + cliprange)
    pg_loss = masked_mean(torch.maximum(pg1, pg2), mask)
    loss = pg_loss + vf_coef * vf_loss
    ent = masked_mean(entropy, mask) if entropy is not None else None
    if entropy_coef:
        if ent is None:
            raise ValueError("ppo_loss: entropy_coef needs the per-token entropy")
        loss = loss - entropy_coef * ent
    stats = {
        "pg_loss": pg_loss.detach(),
        "vf_loss": vf_loss.detach(),
        "clipfrac": masked_mean((pg2 > pg1).to(pg1.dtype), mask).detach(),
        "vf_clipfrac": masked_mean((vf2 > vf1).to(vf1.dtype), mask).detach(),
        "approx_kl": (0.5 * masked_mean(log_ratio**2, mask)).detach(),
        "policy_kl": masked_mean(-log_ratio, mask).detach(),
        "ratio": masked_mean(ratio, mask).detach(),
    }
    if ent is not None:
        stats["entropy"] = ent.detach()
    return loss, stats


class FixedKL:
    def __init__(self, value: float):
        self.value = value

    def update(self, current_kl: float, n_steps: int) -> None:
        pass

    def state(self) -> dict:
        return {"kind": "fixed", "value": self.value}


class AdaptiveKL:
    """β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon)."""

    def __init__(self, value: float, target: float, horizon: int):
        self.value, self.target, self.horizon = value, target, horizon

    def update(self, current_kl: float, n_steps: int) -> None:
        err = min(0.2, max(-0.2, current_kl / self.target - 1))
        self.value *= 1 + err * n_steps / self.horizon

    def state(self) -> dict:
        return {"kind": "adaptive", "value": self.value, "target": self.target, "horizon": self.horizon}


def kl_controller(state: dict):
    return AdaptiveKL(state["value"], state["target"], state["horizon"]) if state["kind"] == "adaptive" else FixedKL(state["value"])


class RunningMoments:
    """Running mean / std of scores (parallel variance combination), from mean 0, var 1, count 1e-24."""

    def __init__(self):
        self.mean, self.std, self.var, self.count = 0.0, 1.0, 1.0, 1e-24

    def update(self, xs: list[float]) -> None:
        n = len(xs)
        if n == 0:
            return
        m = sum(xs) / n
        v = sum((x - m) ** 2 for x in xs) / n
        delta, tot = m - self.mean, self.count + n
        tot_sum = self.var * self.count + delta * delta * self.count * n / tot + v * n
        self.mean += delta * n / tot
        self.var = tot_sum / tot
        self.std = math.sqrt(self.var * tot / (tot - 1 if tot - 1 >= 1 else 1))
        self.count = tot


FLOAT32_EPS = 1.1920928955078125e-7


def scale_scores(scores: list[float], moments: RunningMoments, scaling: bool, clip: float) -> list[float]:
    out = list(scores)
    if scaling:
        moments.update(scores)
        out = [s / (moments.std + FLOAT32_EPS) for s in out]
    if clip > 0:
        out = [max(-clip, min(clip, s)) for s in out]
    return out


# ---- the trainer ----------------------------------------------------------------------------


@dataclass
class PPOConfig:
    """Every `ppo` parameter of rlhfc (same names; kl.* → kl_*, score.* → score_*, optimizer.* flattened)."""

    output_dir: str
    steps: int = 20
    batch_size: int = 16
    mini_batch_size: int = 4
    ppo_epochs: int = 4
    max_prompt_length: int = 32
    chat_template: bool = False
    gamma: float = 1.0
    lam: float = 0.95
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    entropy_coef: float = 0.0
    whiten_rewards: bool = False
    kl_init: float = 0.2
    kl_adaptive: bool = True
    kl_target: float = 6.0
    kl_horizon: int = 10000
    kl_penalty: str = "kl"
    kl_stop_at: float = 0.0
    score_scaling: bool = False
    score_clip: float = 0.0
    overlong_cache: int = 0
    overlong_weight: float = 1.0
    length_floor: int = 0
    floor_weight: float = 1.0
    max_new_tokens: int = 24
    min_new_tokens: int = 0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    lr_scheduler_type: str = "constant"
    lr_scheduler_kwargs: dict = dataclasses.field(default_factory=dict)
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    logging_steps: int = 1
    save_steps: int = 0
    samples: int = 2
    seed: int = 0
    node_id: str = "stage:ppo"
    mixed_precision: str = "no"


class PolicyWithValueHead(nn.Module):
    """The policy and a scalar value head on its last hidden state (`v_head.summary`, as rlhfc)."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.v_head = nn.Linear(policy.config.hidden_size, 1)
        nn.init.normal_(self.v_head.weight, std=0.02)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, input_ids, attention_mask):
        out = self.policy(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return out.logits, self.v_head(out.hidden_states[-1]).squeeze(-1)


def next_token_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log p(· | ids[..t]) at position t, over the vocabulary (positions 0..T−2)."""
    return torch.log_softmax(logits[:, :-1].float(), dim=-1)


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor, lsm: torch.Tensor | None = None) -> torch.Tensor:
    """log p(ids[t+1] | ids[..t]) at position t (the last position gets 0); `lsm`: next_token_log_softmax(logits), if already computed."""
    lsm = next_token_log_softmax(logits) if lsm is None else lsm
    return F.pad(lsm.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1), (0, 1))


def token_entropy(logits: torch.Tensor, lsm: torch.Tensor | None = None) -> torch.Tensor:
    """Entropy of the next-token distribution at position t, aligned with token_logprobs (the last position gets 0)."""
    lsm = next_token_log_softmax(logits) if lsm is None else lsm
    return F.pad(-(lsm.exp() * lsm).sum(-1), (0, 1))


class PPOTrainer:
    """PPO on Accelerate. `reward(prompts, responses) -> scores` is a reward model or a rule judge."""

    def __init__(self, config: PPOConfig, policy, ref_policy, reward, tokenizer, prompts: list[str], accelerator=None):
        from accelerate import Accelerator
        from transformers import get_scheduler

        self.args = config
        self.accelerator = accelerator or Accelerator(mixed_precision=config.mixed_precision)
        P = self.accelerator.num_processes
        if config.batch_size % config.mini_batch_size:
            raise ValueError(f"mini_batch_size {config.mini_batch_size} does not divide batch_size {config.batch_size}")
        for name in ("batch_size", "mini_batch_size"):
            if getattr(config, name) % P:
                raise ValueError(f"{name} {getattr(config, name)} is not divisible by the {P} processes")
        self.local_batch_size = config.batch_size // P
        self.local_mini_batch_size = config.mini_batch_size // P
        self.updates_per_step = config.ppo_epochs * (config.batch_size // config.mini_batch_size)
        self.tokenizer, self.prompts, self.reward = tokenizer, prompts, reward
        from .common import deterministic

        deterministic()  # --deterministic exports: deterministic torch algorithms here too
        torch.manual_seed(config.seed)
        self.model = PolicyWithValueHead(policy)
        decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.requires_grad and p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
        )
        # The schedule advances once per PPO step (warmup_steps and the decay count PPO steps).
        self.scheduler = get_scheduler(config.lr_scheduler_type, self.optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=config.steps, scheduler_specific_kwargs=config.lr_scheduler_kwargs or None)
        self.model, self.optimizer, self.scheduler = self.accelerator.prepare(self.model, self.optimizer, self.scheduler)
        self.ref_policy = ref_policy.to(self.accelerator.device).eval() if ref_policy is not None else None
        self.kl_ctl = AdaptiveKL(config.kl_init, config.kl_target, config.kl_horizon) if config.kl_adaptive else FixedKL(config.kl_init)
        self.moments = RunningMoments()
        self.step = 0
        self.order: list[str] = []
        self.at = 0
        self.epoch = 0
        self.history: list[dict] = []

    # -- prompts, in rlhfc's order: a seeded shuffle per pass over the dataset --
    def next_prompts(self) -> list[str]:
        from .seedrandom import shuffle

        out = []
        while len(out) < self.args.batch_size:
            if self.at >= len(self.order):
                self.order = shuffle(self.prompts, f"{self.args.seed}:{self.args.node_id}:{self.epoch}")
                self.epoch += 1
                self.at = 0
            out.append(self.order[self.at])
            self.at += 1
        return out

    def unwrapped(self) -> PolicyWithValueHead:
        return self.accelerator.unwrap_model(self.model)

    @torch.no_grad()
    def rollout(self, prompts: list[str]):
        """Sample this process's share of the step's prompts; return padded prompt+response ids and masks."""
        from transformers import GenerationConfig

        from .common import chat_prompt_ids

        a, tok = self.args, self.tokenizer
        rank = self.accelerator.process_index
        mine = prompts[rank * self.local_batch_size : (rank + 1) * self.local_batch_size]
        rows = []
        policy = self.unwrapped().policy
        policy.eval()
        gen = GenerationConfig(do_sample=True, max_new_tokens=a.max_new_tokens, min_new_tokens=a.min_new_tokens, temperature=a.temperature, top_k=a.top_k, top_p=a.top_p, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        torch.manual_seed(a.seed * 1000003 + self.step * 131 + rank)
        for p in mine:
            q = (chat_prompt_ids(tok, p) if a.chat_template else tok(p)["input_ids"])[-a.max_prompt_length :] or [tok.eos_token_id]
            ids = torch.tensor([q], device=self.accelerator.device)
            out = policy.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=gen)[0, len(q) :].tolist()
            if tok.eos_token_id in out:
                out = out[: out.index(tok.eos_token_id) + 1]
            rows.append((q, out or [tok.eos_token_id]))
        policy.train()
        return mine, rows

    def gather_rows(self, rows: list[tuple[list[int], list[int]]]) -> list[tuple[list[int], list[int]]]:
        if self.accelerator.num_processes == 1:
            return rows
        from accelerate.utils import gather_object

        return gather_object(rows)

    def collate(self, rows):
        T = max(len(q) + len(r) for q, r in rows)
        ids = torch.full((len(rows), T), self.tokenizer.pad_token_id, dtype=torch.long)
        attn = torch.zeros((len(rows), T), dtype=torch.long)
        rmask = torch.zeros((len(rows), T))  # 1 at positions whose next token is a response token
        for b, (q, r) in enumerate(rows):
            ids[b, : len(q) + len(r)] = torch.tensor(q + r)
            attn[b, : len(q) + len(r)] = 1
            rmask[b, len(q) - 1 : len(q) + len(r) - 1] = 1
        d = self.accelerator.device
        return ids.to(d), attn.to(d), rmask.to(d)

    def train(self) -> dict:
        a = self.args
        acc = self.accelerator
        self.load_checkpoint()
        while self.step < a.steps:
            prompts = self.next_prompts()
            mine, local_rows = self.rollout(prompts)
            texts = [self.tokenizer.decode([t for t in r if t != self.tokenizer.eos_token_id]) for _, r in local_rows]
            # the judge's score plus length shaping (length.*), before any scaling or clipping
            local_scores = [float(s) + length_reward(len(r), a) for s, (_, r) in zip(self.reward(mine, texts), local_rows)]
            rows = self.gather_rows(local_rows)
            raw = self.gather_rows(local_scores)
            all_texts = self.gather_rows(texts)
            sampled_for = self.gather_rows(mine)  # the prompts every process sampled, in process order
            scores = scale_scores(raw, self.moments, a.score_scaling, a.score_clip)
            ids, attn, mask = self.collate(rows)
            with torch.no_grad():
                logits, values = self.unwrapped()(ids, attn)
                old_logp = token_logprobs(logits, ids) * mask
                if self.ref_policy is not None:
                    ref_logits = self.ref_policy(input_ids=ids, attention_mask=attn).logits
                else:  # LoRA: the policy with its adapter disabled
                    with self.unwrapped().policy.disable_adapter():
                        ref_logits = self.unwrapped().policy(input_ids=ids, attention_mask=attn).logits
                ref_logp = token_logprobs(ref_logits, ids) * mask
                # values[t] estimates the return from the next (response) token on, as logp[t]
                old_values = values.float() * mask
            beta = self.kl_ctl.value
            rewards, non_score, kl = compute_rewards(torch.tensor(scores, device=ids.device), old_logp, ref_logp, mask, beta, a.kl_penalty)
            if a.whiten_rewards:
                rewards = whiten(rewards, mask, shift_mean=False) * mask
            advantages, returns = compute_advantages(old_values, rewards, mask, a.gamma, a.lam)
            stats: dict[str, list[float]] = {}
            from .seedrandom import shuffle

            stopped = False
            for e in range(a.ppo_epochs):
                if stopped:
                    break
                perm = shuffle(list(range(a.batch_size)), f"{a.seed}:{self.step}:{e}")
                for m0 in range(0, a.batch_size, a.mini_batch_size):
                    idx = perm[m0 : m0 + a.mini_batch_size]
                    mine_idx = idx[acc.process_index * self.local_mini_batch_size : (acc.process_index + 1) * self.local_mini_batch_size]
                    i = torch.tensor(mine_idx, device=ids.device)
                    with acc.autocast():
                        logits, v = self.model(ids[i], attn[i])
                    lsm = next_token_log_softmax(logits)  # once, for the log-probs and the entropy bonus
                    logp = token_logprobs(logits, ids[i], lsm)
                    ent = token_entropy(logits, lsm) if a.entropy_coef > 0 else None
                    loss, st = ppo_loss(logp, old_logp[i], v.float(), old_values[i], advantages[i], returns[i], mask[i], a.cliprange, a.cliprange_value, a.vf_coef, ent, a.entropy_coef)
                    acc.backward(loss)
                    if a.max_grad_norm > 0:
                        acc.clip_grad_norm_(self.model.parameters(), a.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad()
                    st = {k: acc.reduce(x.to(ids.device), reduction="mean").item() for k, x in st.items()}
                    for k, x in st.items():
                        stats.setdefault(k, []).append(x)
                    if a.kl_stop_at > 0 and st["approx_kl"] > a.kl_stop_at:
                        stopped = True
                        break
            self.scheduler.step()
            mean_kl = kl.sum(-1).mean().item()
            self.kl_ctl.update(mean_kl, a.batch_size)
            self.step += 1
            log = {
                "step": self.step,
                "score": sum(raw) / len(raw),
                "kl": mean_kl,
                "beta": beta,
                "non_score_reward": non_score.sum(-1).mean().item(),
                **{k: sum(v) / len(v) for k, v in stats.items()},
                "updates": sum(1 for _ in stats.get("pg_loss", [])),
                "rollout": len(rows),
                "processes": acc.num_processes,
                "prompts": sampled_for,
                "response_len": mask.sum(-1).mean().item(),
                "lr": self.scheduler.get_last_lr()[0],
            }
            self.history.append(log)
            if acc.is_main_process and (self.step % a.logging_steps == 0 or self.step == a.steps):
                samples = {f"sample_{k}": f"{json.dumps(prompts[k])} → {json.dumps(all_texts[k])} (score {scores[k]:.3f})" for k in range(min(a.samples, len(prompts)))}
                print(json.dumps({**{k: v for k, v in log.items() if k != "prompts"}, **samples}), flush=True)
            if a.save_steps > 0 and self.step % a.save_steps == 0 and self.step < a.steps:
                self.save_checkpoint()
        return self.history[-1] if self.history else {}

    # -- resumable state: weights, optimizer, scheduler, KL controller, score moments, prompt order --
    def checkpoint_dir(self) -> Path:
        return Path(self.args.output_dir) / "checkpoint"

    def save_checkpoint(self) -> None:
        self.accelerator.save_state(str(self.checkpoint_dir()))
        if self.accelerator.is_main_process:
            state = {"step": self.step, "kl": self.kl_ctl.state(), "moments": vars(self.moments), "epoch": self.epoch, "at": self.at, "order": self.order}
            (self.checkpoint_dir() / "ppo_state.json").write_text(json.dumps(state))
        self.accelerator.wait_for_everyone()

    def load_checkpoint(self) -> None:
        f = self.checkpoint_dir() / "ppo_state.json"
        if not f.exists():
            return
        self.accelerator.load_state(str(self.checkpoint_dir()))
        s = json.loads(f.read_text())
        self.step, self.epoch, self.at, self.order = s["step"], s["epoch"], s["at"], s["order"]
        self.kl_ctl = kl_controller(s["kl"])
        self.moments.__dict__.update(s["moments"])
        if self.accelerator.is_main_process:
            print(f"resumed from {self.checkpoint_dir()} at step {self.step}/{self.args.steps}", flush=True)

    def save(self, out: str, merge_lora: bool = False) -> None:
        """The policy (without the value head) and its tokenizer, as `rlhfc run` saves a ppo stage's model."""
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            policy = self.unwrapped().policy
            if merge_lora and hasattr(policy, "merge_and_unload"):
                policy = policy.merge_and_unload()
            os.makedirs(out, exist_ok=True)
            policy.save_pretrained(out)
            self.tokenizer.save_pretrained(out)
            from .common import write_metrics

            write_metrics(out, self.history)
        self.accelerator.wait_for_everyone()
