"""ODIN, the length-debiased (disentangled) reward model, for the exported reward scripts.

TRL's RewardTrainer has no disentangled reward head, so a `reward` stage with `length_debias { }`
is exported with `OdinRewardTrainer`: a RewardTrainer whose loss is rlhfc's (runtime/rl/odin.ts,
Chen et al. 2024, "ODIN: Disentangled Reward Mitigates Hacking in RLHF"):

    loss = mean softplus(-((q_c + l_c) - (q_r + l_r) - margin)) + c * mean((q_c + l_c + q_r + l_r)^2)
         + correlation * (|corr(q, n)| - corr(l, n)) + orthogonality * |w_q . w_l|

q is the model's ordinary `score` output, l a second linear output on the same last-token hidden
state (the length head, trained here and never saved), n the length of each scored sequence in
tokens and corr the Pearson correlation over the batch (chosen and rejected together). The saved
model is the plain one-output sequence classifier.

One difference from rlhfc: RewardTrainer scores prompt + response as one sequence and keeps no
prompt boundary, so n here counts the prompt's tokens too (rlhfc counts the response's alone).
"""

from __future__ import annotations

import torch
from torch import nn
from trl import RewardTrainer


def pearson(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of two vectors (0 when either is constant), as runtime/rl/odin.ts."""
    xc = x - x.mean()
    yc = y - y.mean()
    return (xc * yc).sum() / torch.sqrt((xc * xc).sum() * (yc * yc).sum() + 1e-12)


def odin_loss(q_chosen, q_rejected, l_chosen, l_rejected, n_chosen, n_rejected, w_quality, w_length,
              correlation: float, orthogonality: float, margin=None, centering: float = 0.0) -> dict[str, torch.Tensor]:
    """The loss and its parts (rank, quality_corr, length_corr, dot); tensors of shape [B] and heads [C] or [1, C]."""
    rc = q_chosen + l_chosen
    rr = q_rejected + l_rejected
    z = rc - rr
    if margin is not None:
        z = z - margin
    rank = nn.functional.softplus(-z).mean()
    if centering > 0:
        rank = rank + centering * ((rc + rr) ** 2).mean()
    n = torch.cat([n_chosen, n_rejected]).to(q_chosen.dtype)
    quality_corr = pearson(torch.cat([q_chosen, q_rejected]), n)
    length_corr = pearson(torch.cat([l_chosen, l_rejected]), n)
    dot = (w_quality.reshape(-1) * w_length.reshape(-1)).sum()
    loss = rank + correlation * (quality_corr.abs() - length_corr) + orthogonality * dot.abs()
    return {"loss": loss, "rank": rank, "quality_corr": quality_corr, "length_corr": length_corr, "dot": dot}


def _score_weight(model: nn.Module) -> torch.Tensor:
    """The trained `score` weight (with PEFT: the trainable copy PEFT keeps for SEQ_CLS)."""
    found = [p for name, p in model.named_parameters() if p.requires_grad and "score" in name.split(".") and name.endswith("weight")]
    if not found:
        raise RuntimeError("length_debias: the model has no trainable `score` head")
    return found[-1][:1]


class OdinRewardTrainer(RewardTrainer):
    """RewardTrainer with ODIN's length head and loss; saves only the ordinary `score` head."""

    def __init__(self, *args, correlation: float, orthogonality: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.odin_correlation = correlation
        self.odin_orthogonality = orthogonality
        width = _score_weight(self.model).shape[-1]
        self.length_head = nn.Linear(width, 1, bias=False).to(self.args.device)
        nn.init.normal_(self.length_head.weight, std=0.02)

    def create_optimizer(self, *args, **kwargs):
        optimizer = super().create_optimizer(*args, **kwargs)
        optimizer.add_param_group({"params": list(self.length_head.parameters()), "weight_decay": 0.0})
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        inputs["use_cache"] = False
        margin = inputs.pop("margin", None)
        outputs = model(**inputs, output_hidden_states=True)
        mask = inputs["attention_mask"]
        last = mask.sum(-1) - 1  # right padding (DataCollatorForPreference)
        hidden = outputs.hidden_states[-1][torch.arange(mask.shape[0], device=mask.device), last]
        quality = outputs.logits.squeeze(-1)
        length = self.length_head(hidden.to(self.length_head.weight.dtype)).squeeze(-1)
        q_c, q_r = torch.chunk(quality, 2)
        l_c, l_r = torch.chunk(length, 2)
        n_c, n_r = torch.chunk(mask.sum(-1), 2)
        parts = odin_loss(q_c, q_r, l_c, l_r, n_c, n_r, _score_weight(model), self.length_head.weight,
                          self.odin_correlation, self.odin_orthogonality, margin, self.args.center_rewards_coefficient or 0.0)
        with torch.no_grad():
            self._metrics[mode]["accuracy"].append((q_c > q_r).float().mean().item())
            self._metrics[mode]["margin"].append((q_c - q_r).mean().item())
            self._metrics[mode]["quality_length_corr"].append(parts["quality_corr"].item())
            self._metrics[mode]["length_head_corr"].append(parts["length_corr"].item())
        return (parts["loss"], outputs) if return_outputs else parts["loss"]
