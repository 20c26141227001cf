// The exported PPO trainer (compiler/export/trl/py/rlhf_export/ppo.py) computes what the local
// runtime computes (runtime/rl): the same fixed batch — ragged responses, as the ppo stage holds
// them; padded with a mask, as the Python trainer does — through rewards with each KL penalty,
// reward whitening, GAE and advantage whitening, the clipped losses, the KL controllers and score
// scaling, compared to 1e-5.
import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { expect, it } from 'vitest';
import * as rl from '../../runtime/rl/advantages.ts';
import { entropyFromLogits, ppoLoss } from '../../runtime/rl/losses.ts';
import { describeInterop, pyJson, ROOT } from './python.ts';

const rand = seedrandom('ppo-math');
const n = (scale = 1) => (rand() * 2 - 1) * scale;
const lengths = [5, 1, 3, 7, 2, 6];
const T = Math.max(...lengths);
const rag = (f: () => number) => lengths.map((L) => Array.from({ length: L }, f));
const batch = {
  scores: lengths.map(() => n(2)),
  logprobs: rag(() => -rand() * 4),
  ref: rag(() => -rand() * 4),
  values: rag(() => n()),
  newLogprobs: [] as number[][],
  newValues: rag(() => n()),
};
batch.newLogprobs = batch.logprobs.map((r) => r.map((x) => x + n(0.4)));
const pad = (rows: number[][]) => rows.map((r) => [...r, ...Array(T - r.length).fill(0)]);
const mask = lengths.map((L) => Array.from({ length: T }, (_, t) => (t < L ? 1 : 0)));
const cfg = { gamma: 0.97, lam: 0.9, beta: 0.15, cliprange: 0.2, cliprangeValue: 0.3, vfCoef: 0.1 };

function local(penalty: rl.KlPenalty, whitenRewards: boolean) {
  const masks = lengths.map((L) => Array(L).fill(1));
  const rw = rl.computeRewards(batch.scores, batch.logprobs, batch.ref, masks, cfg.beta, penalty);
  let rewards = rw.rewards;
  if (whitenRewards) {
    const flat = rl.whiten(rw.rewards.flat(), masks.flat(), false);
    let k = 0;
    rewards = rw.rewards.map((r) => r.map(() => flat[k++]));
  }
  const { advantages, returns } = rl.computeAdvantages(batch.values, rewards, masks, cfg.gamma, cfg.lam);
  const t2 = (x: number[][]) => tf.tensor2d(pad(x));
  const loss = ppoLoss({
    oldLogprobs: t2(batch.logprobs),
    logprobs: t2(batch.newLogprobs),
    oldValues: t2(batch.values),
    values: t2(batch.newValues),
    advantages: t2(advantages),
    returns: t2(returns),
    mask: tf.tensor2d(mask),
    cliprange: cfg.cliprange,
    cliprangeValue: cfg.cliprangeValue,
    vfCoef: cfg.vfCoef,
  });
  const stats = Object.fromEntries(['loss', 'pgLoss', 'vfLoss', 'clipFrac', 'approxKl'].map((k) => [k, (loss as unknown as Record<string, tf.Tensor>)[k].dataSync()[0]]));
  return { rewards: pad(rewards), advantages: pad(advantages), returns: pad(returns), kl: pad(rw.kl), stats };
}

function python(penalty: string, whitenRewards: boolean) {
  return pyJson<ReturnType<typeof local>>(
    `import json, sys, torch
sys.path.insert(0, "compiler/export/trl/py")
from rlhf_export.ppo import compute_rewards, compute_advantages, ppo_loss, whiten
b = json.loads(${JSON.stringify(JSON.stringify({ ...batch, logprobs: pad(batch.logprobs), ref: pad(batch.ref), values: pad(batch.values), newLogprobs: pad(batch.newLogprobs), newValues: pad(batch.newValues), mask, cfg }))})
t = lambda k: torch.tensor(b[k], dtype=torch.float64)
c = b["cfg"]
mask = t("mask")
rewards, non_score, kl = compute_rewards(t("scores"), t("logprobs") * mask, t("ref") * mask, mask, c["beta"], ${JSON.stringify(penalty)})
if ${whitenRewards ? 'True' : 'False'}:
    rewards = whiten(rewards, mask, shift_mean=False) * mask
adv, ret = compute_advantages(t("values") * mask, rewards, mask, c["gamma"], c["lam"])
loss, st = ppo_loss(t("newLogprobs"), t("logprobs"), t("newValues"), t("values"), adv, ret, mask, c["cliprange"], c["cliprangeValue"], c["vfCoef"])
stats = {"loss": loss.item(), "pgLoss": st["pg_loss"].item(), "vfLoss": st["vf_loss"].item(), "clipFrac": st["clipfrac"].item(), "approxKl": st["approx_kl"].item()}
print(json.dumps({"rewards": rewards.tolist(), "advantages": adv.tolist(), "returns": ret.tolist(), "kl": kl.tolist(), "stats": stats}))`,
    { cwd: ROOT },
  );
}

const close = (a: number[][], b: number[][], what: string) =>
  a.forEach((row, i) => row.forEach((x, t) => mask[i][t] && expect(Math.abs(x - b[i][t]), `${what}[${i}][${t}]: ${x} vs ${b[i][t]}`).toBeLessThan(1e-5)));

describeInterop('interop: the exported PPO trainer computes what runtime/rl computes', () => {
  for (const penalty of ['kl', 'abs', 'mse'] as const) {
    for (const whitenRewards of [false, true]) {
      it(`rewards, advantages, returns and losses (kl.penalty ${penalty}, whiten_rewards ${whitenRewards})`, () => {
        const a = local(penalty, whitenRewards);
        const b = python(penalty, whitenRewards);
        close(a.kl, b.kl, 'kl');
        close(a.rewards, b.rewards, 'rewards');
        close(a.advantages, b.advantages, 'advantages');
        close(a.returns, b.returns, 'returns');
        for (const k of Object.keys(a.stats)) expect(Math.abs(a.stats[k] - b.stats[k]), `${k}: ${a.stats[k]} vs ${b.stats[k]}`).toBeLessThan(1e-5);
        expect(Math.abs(a.stats['pgLoss'])).toBeGreaterThan(1e-3); // the batch exercises the loss
      });
    }
  }

  it('the entropy bonus: token_entropy aligned with token_logprobs, and the loss with entropy_coef', () => {
    const V = 7;
    const logits = lengths.map(() => Array.from({ length: T + 1 }, () => Array.from({ length: V }, () => n(3))));
    // rlhfc: the entropy of the distribution that predicts token t+1, at position t (as the log-probs)
    const ent = tf.tidy(() => entropyFromLogits(tf.tensor3d(logits).slice([0, 0, 0], [lengths.length, T, V])).arraySync() as number[][]);
    const t2 = (x: number[][]) => tf.tensor2d(x);
    const z = pad(batch.values.map((r) => r.map(() => 0)));
    const local = tf.tidy(() => {
      const l = ppoLoss({ oldLogprobs: t2(pad(batch.logprobs)), logprobs: t2(pad(batch.newLogprobs)), oldValues: t2(pad(batch.values)), values: t2(pad(batch.newValues)), advantages: t2(pad(batch.values)), returns: t2(z), mask: t2(mask), cliprange: cfg.cliprange, cliprangeValue: cfg.cliprangeValue, vfCoef: cfg.vfCoef, tokenEntropy: t2(ent), entCoef: 0.03 });
      return { loss: l.loss.dataSync()[0], entropy: l.entropy!.dataSync()[0] };
    });
    const py = pyJson<{ ent: number[][]; loss: number; entropy: number }>(
      `import json, sys, torch
sys.path.insert(0, "compiler/export/trl/py")
from rlhf_export.ppo import ppo_loss, token_entropy
b = json.loads(${JSON.stringify(JSON.stringify({ logits, logprobs: pad(batch.logprobs), newLogprobs: pad(batch.newLogprobs), values: pad(batch.values), newValues: pad(batch.newValues), z, mask, cfg }))})
t = lambda k: torch.tensor(b[k], dtype=torch.float64)
c = b["cfg"]
ent = token_entropy(t("logits"))[:, :-1]
loss, st = ppo_loss(t("newLogprobs"), t("logprobs"), t("newValues"), t("values"), t("values"), t("z"), t("mask"), c["cliprange"], c["cliprangeValue"], c["vfCoef"], ent, 0.03)
print(json.dumps({"ent": ent.tolist(), "loss": loss.item(), "entropy": st["entropy"].item()}))`,
      { cwd: ROOT },
    );
    close(ent, py.ent, 'entropy');
    expect(Math.abs(local.entropy - py.entropy)).toBeLessThan(1e-5);
    expect(Math.abs(local.loss - py.loss)).toBeLessThan(1e-5);
    expect(local.entropy).toBeGreaterThan(0.1); // the bonus is not vacuous
  });

  it('the KL controllers and score scaling move the same way over 20 steps', () => {
    const kls = Array.from({ length: 20 }, () => rand() * 12);
    const scoreBatches = Array.from({ length: 20 }, () => Array.from({ length: 4 }, () => n(3)));
    const adaptive = new rl.AdaptiveKl(0.2, 6, 100);
    const fixed = new rl.FixedKl(0.2);
    const moments = new rl.RunningMoments();
    const want = kls.map((k, i) => {
      adaptive.update(k, 16);
      fixed.update(k, 16);
      const s = rl.scaleScores(scoreBatches[i], moments, { scaling: true, clip: 1.5 });
      return { adaptive: adaptive.value, fixed: fixed.value, scaled: s };
    });
    const got = pyJson<typeof want>(
      `import json, sys
sys.path.insert(0, "compiler/export/trl/py")
from rlhf_export.ppo import AdaptiveKL, FixedKL, RunningMoments, scale_scores
a, f, m = AdaptiveKL(0.2, 6, 100), FixedKL(0.2), RunningMoments()
out = []
for k, s in zip(${JSON.stringify(kls)}, ${JSON.stringify(scoreBatches)}):
    a.update(k, 16)
    f.update(k, 16)
    out.append({"adaptive": a.value, "fixed": f.value, "scaled": scale_scores(s, m, True, 1.5)})
print(json.dumps(out))`,
    );
    want.forEach((w, i) => {
      expect(Math.abs(w.adaptive - got[i].adaptive)).toBeLessThan(1e-9);
      expect(got[i].fixed).toBe(w.fixed);
      w.scaled.forEach((x, j) => expect(Math.abs(x - got[i].scaled[j])).toBeLessThan(1e-9));
    });
    expect(want[19].adaptive).not.toBeCloseTo(0.2, 3);
  });
});
