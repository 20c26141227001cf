// TRL 1.13 as the oracle of the group-RL and KTO math in runtime/rl/group.ts. Where TRL's code is
// a trainer method, the test builds the real trainer on a tiny GPT-2 and calls that method:
//   GRPO: GRPOTrainer._compute_loss (each loss_type, clip-higher ε_high ≠ ε, the k3 KL with β > 0,
//         weighted by the ratio as TRL's default use_bias_correction_kl)
//         on a hand-made batch (prompt/completion ids and masks, advantages, old and reference
//         per-token log-probs); the policy's per-token log-probs are read with the trainer's own
//         _get_per_token_logps_and_entropies and given to grpoLoss with the same other inputs.
//   RLOO: RLOOTrainer._compute_loss (sequence-level ratio, clip-higher) the same way.
//   KTO:  KTOTrainer.compute_loss on a real batch of its own collator (matched and mismatched KL
//         sequences); the summed completion log-probs of policy and reference, read from that
//         batch, go through ktoReferencePoint and ktoLoss.
// Advantages are computed inline in TRL's _generate_and_score_completions (no function to call):
// they are checked against hand values in tests/runtime/rl-group.test.ts, not here.
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { grpoLoss, ktoLoss, ktoReferencePoint, rlooLoss, type GrpoOptions } from '../../runtime/rl/group.ts';
import { describeInterop, pyJson, TINY_BPE_GPT2 } from './python.ts';

const PY = `import json, os, tempfile, warnings
warnings.filterwarnings("ignore")
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import GRPOConfig, GRPOTrainer, KTOConfig, KTOTrainer, RLOOConfig, RLOOTrainer
${TINY_BPE_GPT2}
tmp = tempfile.mkdtemp()
out = {}
torch.manual_seed(0)
policy = GPT2LMHeadModel(GPT2Config(**cfg))
policy_dir = os.path.join(tmp, "policy")
policy.save_pretrained(policy_dir)  # GRPO/RLOO load the policy (and with beta > 0 the reference) by path
tk.save_pretrained(policy_dir)
g = torch.Generator().manual_seed(1)
B, P, C = 4, 3, 5
prompt_ids = torch.randint(0, len(tk), (B, P), generator=g)
completion_ids = torch.randint(0, len(tk), (B, C), generator=g)
prompt_mask = torch.ones(B, P, dtype=torch.long)
completion_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]])
advantages = torch.tensor([1.2, -0.7, 0.4, -0.9])
ds = Dataset.from_list([{"prompt": t} for t in texts])
reward = lambda prompts, completions, **kw: [0.0 for _ in prompts]
def per_token(tr):
    with torch.no_grad():
        lp, _, _ = tr._get_per_token_logps_and_entropies(tr.model, torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1), C)
    return lp
for lt in ["grpo", "bnpo", "dr_grpo", "dapo"]:
    args = GRPOConfig(output_dir=os.path.join(tmp, lt), loss_type=lt, beta=0.05, epsilon=0.2, epsilon_high=0.28, num_generations=2, per_device_train_batch_size=4, max_completion_length=C, report_to="none", use_cpu=True)
    tr = GRPOTrainer(model=policy_dir, reward_funcs=[reward], args=args, train_dataset=ds, processing_class=tk)
    tr.model.eval()
    lp = per_token(tr)
    old = lp + 0.3 * torch.randn(B, C, generator=g)  # ratios well outside [1 - 0.2, 1 + 0.28] for some tokens
    ref = lp + 0.5 * torch.randn(B, C, generator=g)
    inputs = {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids, "completion_mask": completion_mask, "advantages": advantages, "old_per_token_logps": old, "ref_per_token_logps": ref, "num_items_in_batch": completion_mask.sum()}
    with torch.no_grad():
        loss = tr._compute_loss(tr.model, inputs).item()
    out["grpo_" + lt] = {"loss": loss, "logps": lp.tolist(), "old": old.tolist(), "ref": ref.tolist(), "tokens": int(completion_mask.sum())}
args = RLOOConfig(output_dir=os.path.join(tmp, "rloo"), beta=0.0, epsilon=0.2, epsilon_high=0.28, num_generations=2, per_device_train_batch_size=4, max_completion_length=C, report_to="none", use_cpu=True)
tr = RLOOTrainer(model=policy_dir, reward_funcs=[reward], args=args, train_dataset=ds, processing_class=tk)
tr.model.eval()
lp = per_token(tr)
old_seq = (lp * completion_mask).sum(1) + 0.3 * torch.randn(B, generator=g)
with torch.no_grad():
    loss = tr._compute_loss(tr.model, {"prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids, "completion_mask": completion_mask, "advantages": advantages, "old_logps": old_seq}).item()
out["rloo"] = {"loss": loss, "logps": lp.tolist(), "old_seq": old_seq.tolist()}
torch.manual_seed(2)
ref_model = GPT2LMHeadModel(GPT2Config(**cfg))
unpaired = [{"prompt": "Review: ", "completion": t, "label": i % 2 == 0} for i, t in enumerate(texts)] + [{"prompt": "Say: ", "completion": "good", "label": False}, {"prompt": "Say: ", "completion": "lovely", "label": True}]
args = KTOConfig(output_dir=os.path.join(tmp, "kto"), beta=0.3, desirable_weight=1.0, undesirable_weight=1.4, per_device_train_batch_size=8, max_length=64, report_to="none", use_cpu=True)
tr = KTOTrainer(model=policy, ref_model=ref_model, args=args, train_dataset=Dataset.from_list(unpaired), processing_class=tk)
batch = next(iter(tr.get_train_dataloader()))
tr.model.eval()
def seq(model, ids, mask, comp):
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (lp * comp[:, 1:]).sum(1).tolist()
with torch.no_grad():
    loss = tr.compute_loss(tr.model, dict(batch)).item()
out["kto"] = {
    "loss": loss,
    "labels": [bool(x) for x in batch["label"]],
    "logps": seq(policy, batch["input_ids"], batch["attention_mask"], batch["completion_mask"]),
    "ref": seq(ref_model, batch["input_ids"], batch["attention_mask"], batch["completion_mask"]),
    "kl_logps": seq(policy, batch["KL_input_ids"], batch["KL_attention_mask"], batch["KL_completion_mask"]),
    "kl_ref": seq(ref_model, batch["KL_input_ids"], batch["KL_attention_mask"], batch["KL_completion_mask"]),
}
print(json.dumps(out))
`;

const MASK = [
  [1, 1, 1, 1, 1],
  [1, 1, 1, 0, 0],
  [1, 1, 1, 1, 0],
  [1, 0, 0, 0, 0],
];
const ADV = [1.2, -0.7, 0.4, -0.9];

describeInterop('interop: TRL 1.13 as the oracle of runtime/rl/group.ts', () => {
  let got: Record<string, Record<string, unknown>>;
  for (const lt of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const) {
    it(`GRPO ${lt} (ε 0.2, ε_high 0.28, β 0.05 k3 KL): grpoLoss = GRPOTrainer._compute_loss`, { timeout: 900_000 }, () => {
      got ??= pyJson(PY);
      const g = got[`grpo_${lt}`] as { loss: number; logps: number[][]; old: number[][]; ref: number[][]; tokens: number };
      // TRL's default use_bias_correction_kl = True, as the grpo stage uses it
      const o: GrpoOptions = { beta: 0.05, epsilon: 0.2, epsilonHigh: 0.28, lossType: lt, maxCompletionLength: 5, tokensInBatch: g.tokens, biasCorrectedKl: true };
      const r = tf.tidy(() => {
        const x = grpoLoss({ logps: tf.tensor2d(g.logps), oldLogps: tf.tensor2d(g.old), refLogps: tf.tensor2d(g.ref), mask: tf.tensor2d(MASK), advantages: tf.tensor1d(ADV) }, o);
        return [x.loss.dataSync()[0], x.clipRegion.dataSync()[0]];
      });
      expect(Math.abs(r[0] - g.loss), `rlhfc ${r[0]} vs TRL ${g.loss}`).toBeLessThan(1e-5);
      expect(r[1], 'some tokens are clipped: the clip path is exercised').toBeGreaterThan(0);
    });
  }

  it('RLOO (sequence-level ratio, ε 0.2, ε_high 0.28): rlooLoss = RLOOTrainer._compute_loss', { timeout: 900_000 }, () => {
    got ??= pyJson(PY);
    const g = got['rloo'] as { loss: number; logps: number[][]; old_seq: number[] };
    const r = tf.tidy(() => rlooLoss({ logps: tf.tensor2d(g.logps), mask: tf.tensor2d(MASK), oldSeqLogps: tf.tensor1d(g.old_seq), advantages: tf.tensor1d(ADV) }, 0.2, 0.28).loss.dataSync()[0]);
    expect(Math.abs(r - g.loss), `rlhfc ${r} vs TRL ${g.loss}`).toBeLessThan(1e-5);
  });

  it('KTO (β 0.3, undesirable_weight 1.4, reference point from the batch\'s mismatched pairs): ktoLoss = KTOTrainer.compute_loss', { timeout: 900_000 }, () => {
    got ??= pyJson(PY);
    const g = got['kto'] as { loss: number; labels: boolean[]; logps: number[]; ref: number[]; kl_logps: number[]; kl_ref: number[] };
    const z0 = ktoReferencePoint(g.kl_logps, g.kl_ref);
    const r = tf.tidy(() =>
      ktoLoss({ logps: tf.tensor1d(g.logps), refLogps: tf.tensor1d(g.ref), labels: tf.tensor1d(g.labels.map((l) => (l ? 1 : 0))), kl: z0 }, { beta: 0.3, desirableWeight: 1.0, undesirableWeight: 1.4 }).loss.dataSync()[0],
    );
    expect(Math.abs(r - g.loss), `rlhfc ${r} vs TRL ${g.loss} (z0 ${z0})`).toBeLessThan(1e-5);
    expect(g.labels.some((l) => l) && g.labels.some((l) => !l)).toBe(true);
  });
});
