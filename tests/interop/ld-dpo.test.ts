// LD-DPO (ld_alpha) against TRL 1.13's own code: DPOTrainer(ld_alpha=α) builds a real padded batch
// of a tiny GPT-2 (prompts and responses of different lengths, chosen longer in some pairs and
// rejected in others, and a max_length that truncates); its compute_ref_log_probs gives TRL's
// length-desensitised sequence log-probs of the policy and the reference, and compute_loss its loss
// (sigmoid, IPO, hinge). rlhfc's ldTokenWeights on the same completion masks, summed against the
// same per-token log-probs, must give the same sequence log-probs, and dpoLoss on them the same loss.
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { ldTokenWeights } from '../../runtime/rl/ld-dpo.ts';
import { dpoLoss, type DpoLossType } from '../../runtime/rl/losses.ts';
import { describeInterop, pyJson, TINY_BPE_GPT2 } from './python.ts';

const PY = `
import json, sys, os, tempfile, warnings
warnings.filterwarnings("ignore")
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from trl import DPOConfig, DPOTrainer
${TINY_BPE_GPT2}
# chosen longer, rejected longer, equal, and a one-token-vs-many pair; prompts of different lengths
pairs = [
    {"prompt": "Review: ", "chosen": texts[0], "rejected": "awful"},
    {"prompt": "Say: ", "chosen": "good", "rejected": texts[1]},
    {"prompt": "Review of the place: ", "chosen": texts[4], "rejected": texts[5]},
    {"prompt": "R: ", "chosen": texts[2], "rejected": texts[3]},
]
out = []
tmp = tempfile.mkdtemp()
torch.manual_seed(0)
policy, ref = GPT2LMHeadModel(GPT2Config(**cfg)), GPT2LMHeadModel(GPT2Config(**cfg))
def per_token(model, batch):
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return lp.tolist()
for max_length in [64, 12]:
    for lt in ["sigmoid", "ipo", "hinge"]:
        for alpha in [0.5, 0.0]:
            args = DPOConfig(output_dir=os.path.join(tmp, f"{lt}{max_length}{alpha}"), loss_type=lt, beta=0.3, ld_alpha=alpha, per_device_train_batch_size=4, report_to="none", max_length=max_length, use_cpu=True, dataloader_drop_last=False)
            tr = DPOTrainer(model=policy, ref_model=ref, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tk)
            batch = next(iter(tr.get_train_dataloader()))
            tr.model.eval()
            with torch.no_grad():
                loss = tr.compute_loss(tr.model, dict(batch)).item()
                # TRL's own LD-weighted sequence log-probs (compute_ref_log_probs applies ld_alpha to whichever model it is given)
                pc, pr = tr.compute_ref_log_probs(policy, dict(batch))
                rc, rr = tr.compute_ref_log_probs(ref, dict(batch))
            comp = batch["completion_mask"]
            out.append({"max_length": max_length, "loss_type": lt, "alpha": alpha, "loss": loss,
                        "pc": pc.tolist(), "pr": pr.tolist(), "rc": rc.tolist(), "rr": rr.tolist(),
                        "policy_tok": per_token(policy, batch), "ref_tok": per_token(ref, batch),
                        "mask": comp[:, 1:].tolist(), "n": comp.sum(1).tolist(), "attn": batch["attention_mask"].tolist()})
print(json.dumps(out))
`;

interface Case {
  max_length: number;
  loss_type: DpoLossType;
  alpha: number;
  loss: number;
  pc: number[];
  pr: number[];
  rc: number[];
  rr: number[];
  policy_tok: number[][];
  ref_tok: number[][];
  mask: number[][];
  n: number[];
}

/** Σ_t w[b,t]·lp[b,t] per row of a [rows, T] table. */
const weightedSums = (lp: number[][], w: Float32Array, T: number) => lp.map((row, b) => row.reduce((s, x, t) => s + x * w[b * T + t], 0));

describeInterop('interop: ld_alpha equals TRL 1.13 DPOTrainer(ld_alpha)', () => {
  let cases: Case[];
  it('LD-weighted sequence log-probs and the loss of every DPO loss form, with padding and truncation', { timeout: 900_000 }, () => {
    cases = pyJson<Case[]>(PY);
    expect(cases.length).toBe(12);
    let reweighted = 0;
    for (const c of cases) {
      const what = `${c.loss_type} α=${c.alpha} max_length=${c.max_length}`;
      const B = c.pc.length;
      const T = c.mask[0].length;
      const flat = (rows: number[][]) => rows.flat();
      const w = ldTokenWeights(flat(c.mask.slice(0, B)), flat(c.mask.slice(B)), B, T, T, c.alpha);
      const lens = c.mask.map((r) => r.reduce((a, v) => a + v, 0));
      // The batch has pairs where the chosen response is longer and pairs where the rejected one is.
      expect(lens.slice(0, B).some((n, b) => n > lens[B + b]), what).toBe(true);
      expect(lens.slice(0, B).some((n, b) => n < lens[B + b]), what).toBe(true);
      const ours = {
        pc: weightedSums(c.policy_tok.slice(0, B), w.chosen, T),
        pr: weightedSums(c.policy_tok.slice(B), w.rejected, T),
        rc: weightedSums(c.ref_tok.slice(0, B), w.chosen, T),
        rr: weightedSums(c.ref_tok.slice(B), w.rejected, T),
      };
      for (const k of ['pc', 'pr', 'rc', 'rr'] as const) ours[k].forEach((v, b) => expect(Math.abs(v - c[k][b]), `${what} ${k}[${b}]: rlhfc ${v} vs TRL ${c[k][b]}`).toBeLessThan(1e-4));
      // The weighting changed something: plain sums differ from TRL's LD sums in some row.
      const plain = c.policy_tok.slice(0, B).map((row, b) => row.reduce((s, x, t) => s + x * c.mask[b][t], 0));
      if (plain.some((v, b) => Math.abs(v - c.pc[b]) > 1e-3)) reweighted++;
      const loss = tf.tidy(() =>
        dpoLoss(
          { policyChosen: tf.tensor1d(ours.pc), policyRejected: tf.tensor1d(ours.pr), refChosen: tf.tensor1d(ours.rc), refRejected: tf.tensor1d(ours.rr), chosenTokens: tf.tensor1d(c.n.slice(0, B)), rejectedTokens: tf.tensor1d(c.n.slice(B)) },
          0.3,
          c.loss_type,
        ).loss.dataSync()[0],
      );
      expect(Math.abs(loss - c.loss), `${what}: loss rlhfc ${loss} vs TRL ${c.loss}`).toBeLessThan(1e-5);
    }
    expect(reweighted).toBe(cases.length);
  });
});
