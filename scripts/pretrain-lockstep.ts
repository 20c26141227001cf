// rlhfc and Transformers on identical batches (issue 26's pretrain gap; docs/trl-export.md, "The pretrain
// gap, bisected"). Builds rlhfc's GPT of the seed's `base` shape (seed 42), saves it as a GPT-2 folder
// (OUT/init), draws STEPS batches of 16 blocks with rlhfc's sampler and trains them with rlhfc's own
// pieces — accumulateGrads, optimizerStep (global-norm clipping, the schedule, AdamW with its default
// decay rule) — writing the step-0 gradients (OUT/grads0.json), the batches (OUT/batches.json) and the
// per-step loss, gradient norm and rate (OUT/rlhfc.json). scripts/pretrain_lockstep.py then trains the
// same weights on the same batches in PyTorch the way the export's Trainer does and prints both.
//
//   npx tsx scripts/pretrain-lockstep.ts OUT [STEPS] [--data train.jsonl --tokenizer DIR]
//
// --data: a jsonl of {"text"} documents (the export's data/speeches/train.jsonl) and --tokenizer the
// stage's tokenizer folder (the `bpe` node of a store): the real packed blocks (packText, block 64).
// Without them: text from a random sparse Markov chain over 512 tokens.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../runtime/tensor-backend.ts';
import { GPT } from '../runtime/model/gpt.ts';
import { toCheckpoint } from '../runtime/model/io.ts';
import { AdamW, accumulateGrads } from '../runtime/optim.ts';
import { optimizerStep, lrSchedule } from '../runtime/train/loop.ts';
import { collate, encodeDocument, packText } from '../runtime/train/examples.ts';
import { cycle } from '../runtime/train/lm.ts';
import { loadTokenizer } from '../runtime/tokenizers/index.ts';
import type { OptimizerParams } from '../runtime/train/params.ts';
import { Rng } from '../runtime/rng.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { data: { type: 'string' }, tokenizer: { type: 'string' } } });
const [out, stepsArg] = positionals;
if (!out) throw new Error('usage: npx tsx scripts/pretrain-lockstep.ts OUT [STEPS] [--data train.jsonl --tokenizer DIR]');
const steps = Number(stepsArg ?? 60);
const [V, T, B] = [512, 64, 16];
console.log((await initBackend(process.env.RLHFC_BACKEND ?? 'native')).banner);
mkdirSync(out, { recursive: true });
const model = new GPT({ vocabSize: V, context: T, width: 128, layers: 2, heads: 4, dropout: 0 }, { seed: 42 });
await toCheckpoint(`${out}/init`, model);

const batches: number[][][] = [];
if (values.data) {
  const tok = await loadTokenizer(values.tokenizer ?? '');
  if (tok.vocabSize !== V) throw new Error(`the tokenizer has ${tok.vocabSize} tokens, the seed's model ${V}`);
  const docs = readFileSync(values.data, 'utf8').trim().split('\n').map((l) => encodeDocument(tok, (JSON.parse(l) as { text: string }).text));
  const rows = packText(docs, T, tok.eosId, 'drop');
  const next = cycle(rows, B, 42, 'base');
  for (let s = 0; s < steps; s++) batches.push(next().map((r) => r.ids));
  console.log(`${rows.length} blocks of ${T} tokens`);
} else {
  const r = new Rng(7);
  const follow = Array.from({ length: V }, () => Array.from({ length: 4 }, () => r.int(V)));
  for (let s = 0; s < steps; s++) {
    batches.push(
      Array.from({ length: B }, () => {
        const row = [r.int(V)];
        while (row.length < T + 1) row.push(r.next() < 0.1 ? r.int(V) : follow[row[row.length - 1]][r.int(4)]);
        return row;
      }),
    );
  }
}
writeFileSync(`${out}/batches.json`, JSON.stringify(batches));

// the seed's `base` optimizer block, resolved (rlhfc compile examples/seed.rlhf)
const o: OptimizerParams = { lr: 3e-3, weight_decay: 0.1, betas: [0.9, 0.999], eps: 1e-8, schedule: 'cosine', warmup_steps: 30, min_lr_ratio: 0, grad_clip: 1 };
const params = model.trainable();
const parts = { params, optimizer: new AdamW(params, { lr: o.lr, beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weight_decay }), lrAt: lrSchedule(o, 1000), gradClip: o.grad_clip };
const log: { step: number; loss: number; gradNorm: number; lr: number }[] = [];
for (let s = 0; s < steps; s++) {
  const b = collate(batches[s].map((ids) => ({ ids, loss: ids.map((_, i) => (i > 0 ? 1 : 0)) })), 0);
  const { loss, grads } = accumulateGrads(params, 1, () => model.lmLoss(b, { training: true }));
  if (s === 0) writeFileSync(`${out}/grads0.json`, JSON.stringify(Object.fromEntries([...grads].map(([n, g]) => [n, Array.from(g.dataSync())]))));
  const { gradNorm, lr } = await optimizerStep(parts, grads, s);
  log.push({ step: s, loss: await loss, gradNorm, lr });
}
writeFileSync(`${out}/rlhfc.json`, JSON.stringify(log));
for (const l of log) if (l.step % 10 === 0 || l.step === steps - 1) console.log(`step ${l.step}: loss ${l.loss.toFixed(4)}  grad norm ${l.gradNorm.toFixed(4)}  lr ${l.lr.toExponential(3)}`);
parts.optimizer.dispose();
model.dispose();
