// TRL as the oracle of the RL math: TRL 1.13's own DPOTrainer (sigmoid, IPO, hinge) and
// RewardTrainer (margin, centering) compute their loss on a real batch of a tiny GPT-2; the same
// per-sequence log-probs / rewards, read from that batch, go through runtime/rl, and the losses
// must agree to 1e-5.
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { dpoLoss, pairwiseRewardLoss, type DpoLossType } from '../../runtime/rl/losses.ts';
import { describeInterop, pyJson, TINY_BPE_GPT2 } from './python.ts';

const PY = `import json, sys, os, tempfile, warnings
warnings.filterwarnings("ignore")
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPT2ForSequenceClassification, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer
${TINY_BPE_GPT2}
pairs = [{"prompt": "Review: ", "chosen": texts[i], "rejected": texts[i + 1], "margin": 0.1 * (i + 1)} for i in range(0, 6, 2)] + [{"prompt": "Say: ", "chosen": "good", "rejected": "bad food", "margin": 0.5}]
out = {}
tmp = tempfile.mkdtemp()
torch.manual_seed(0)
policy, ref = GPT2LMHeadModel(GPT2Config(**cfg)), GPT2LMHeadModel(GPT2Config(**cfg))
def logps(model, batch):
    ids, mask, comp = batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    s = (lp * comp[:, 1:]).sum(1)
    return s.tolist(), comp.sum(1).tolist()
for lt in ["sigmoid", "ipo", "hinge"]:
    args = DPOConfig(output_dir=os.path.join(tmp, lt), loss_type=lt, beta=0.3, per_device_train_batch_size=4, report_to="none", max_length=64, use_cpu=True, dataloader_drop_last=False)
    tr = DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=Dataset.from_list([{k: v for k, v in p.items() if k != "margin"} for p in pairs]), processing_class=tk)
    batch = next(iter(tr.get_train_dataloader()))
    tr.model.eval()
    with torch.no_grad():
        loss = tr.compute_loss(tr.model, dict(batch)).item()
    (p, n), (r, _) = logps(policy, batch), logps(ref, batch)
    B = len(p) // 2
    out[lt] = {"loss": loss, "pc": p[:B], "pr": p[B:], "rc": r[:B], "rr": r[B:], "nc": n[:B], "nr": n[B:]}
torch.manual_seed(1)
rm = GPT2ForSequenceClassification(GPT2Config(**cfg, num_labels=1))
args = RewardConfig(output_dir=os.path.join(tmp, "rm"), per_device_train_batch_size=4, report_to="none", max_length=64, center_rewards_coefficient=0.01, use_cpu=True)
tr = RewardTrainer(model=rm, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tk)
batch = next(iter(tr.get_train_dataloader()))
tr.model.eval()
with torch.no_grad():
    r = tr.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    loss = tr.compute_loss(tr.model, dict(batch)).item()
B = len(r) // 2
out["reward"] = {"loss": loss, "chosen": r[:B].tolist(), "rejected": r[B:].tolist(), "margin": batch["margin"].tolist()}
print(json.dumps(out))
`;

describeInterop('interop: TRL 1.13 as the oracle of runtime/rl', () => {
  let got: Record<string, Record<string, number | number[]>>;
  const ts = (k: string) => tf.tensor1d(got[k] as unknown as number[]);
  for (const lt of ['sigmoid', 'ipo', 'hinge'] as const) {
    it(`DPO ${lt}: dpoLoss = DPOTrainer.compute_loss on the same batch`, { timeout: 900_000 }, () => {
      got ??= pyJson(PY);
      const g = got[lt] as Record<string, number[]> & { loss: number };
      const r = tf.tidy(() =>
        dpoLoss(
          { policyChosen: tf.tensor1d(g.pc), policyRejected: tf.tensor1d(g.pr), refChosen: tf.tensor1d(g.rc), refRejected: tf.tensor1d(g.rr), chosenTokens: tf.tensor1d(g.nc), rejectedTokens: tf.tensor1d(g.nr) },
          0.3,
          lt as DpoLossType,
        ).loss.dataSync()[0],
      );
      expect(Math.abs(r - g.loss), `rlhfc ${r} vs TRL ${g.loss}`).toBeLessThan(1e-5);
      expect(g.pc.some((x, i) => x !== g.rc[i])).toBe(true); // policy and reference differ: the loss is not at its trivial point
    });
  }

  it('reward loss with margins and centering: pairwiseRewardLoss = RewardTrainer.compute_loss', { timeout: 900_000 }, () => {
    got ??= pyJson(PY);
    const g = got['reward'] as Record<string, number[]> & { loss: number };
    void ts;
    const r = tf.tidy(() => pairwiseRewardLoss(tf.tensor1d(g.chosen), tf.tensor1d(g.rejected), tf.tensor1d(g.margin), 0.01).dataSync()[0]);
    expect(Math.abs(r - g.loss), `rlhfc ${r} vs TRL ${g.loss}`).toBeLessThan(1e-5);
    expect(g.margin.some((m) => m > 0)).toBe(true);
  });
});
