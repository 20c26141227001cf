// One plan, two engines, one update (issue 26): a tiny GPT-2 trained by rlhfc's own loop (trainLoop
// with the optimizer parts an `optimizer { ... }` block gives: AdamW, its decay rule, the schedule,
// global-norm clipping) and by PyTorch the way the export's Trainer trains it (GPT2LMHeadModel from
// the same weights, torch.optim.AdamW over `Trainer.get_decay_parameter_names`, `get_scheduler` with
// warm-up, `clip_grad_norm_`) on identical batches: the losses, gradient norms and learning rates
// agree at every step and the weights agree at the end. Before the fix rlhfc's warm-up ran one step
// ahead (its first step had lr/warmup where Transformers' has 0) and it exempted the embeddings from
// weight decay; either fails this test.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initBackend } from '../../runtime/tensor-backend.ts';
import { toCheckpoint } from '../../runtime/model/io.ts';
import { LM, cycle } from '../../runtime/train/lm.ts';
import { defaultDecay, learningRate, type ScheduleOptions } from '../../runtime/optim.ts';
import { trainLoop } from '../../runtime/train/loop.ts';
import { collate } from '../../runtime/train/examples.ts';
import type { OptimizerParams } from '../../runtime/train/params.ts';
import { Reporter } from '../../runtime/reporter.ts';
import { lmRows, tinyModel, tok } from '../runtime/helpers.ts';
import { describeInterop, pyJson } from './python.ts';

const tmp = mkdtempSync(join(tmpdir(), 'rlhfc-lockstep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const STEPS = 30;
const TORCH = `
import json, sys, torch, torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen3Config, Qwen3ForCausalLM, Trainer, get_scheduler
d = sys.argv[1]
o = json.load(open(d + "/run.json"))
torch.manual_seed(0)
model = GPT2LMHeadModel.from_pretrained(d + "/init", dtype=torch.float32)
model.train()
decay = set(Trainer.get_decay_parameter_names(None, model))  # what the export's Trainer decays
named = list(model.named_parameters())  # the tied lm_head appears once, as transformer.wte.weight
opt = torch.optim.AdamW(
    [{"params": [p for n, p in named if n in decay], "weight_decay": o["weight_decay"]},
     {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}],
    lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"])
sched = get_scheduler(o["schedule"], opt, num_warmup_steps=o["warmup_steps"], num_training_steps=o["total"])
log = []
for rows in o["batches"]:
    x = torch.tensor(rows)
    logits = model(input_ids=x[:, :-1]).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), o["grad_clip"])
    log.append({"loss": loss.item(), "grad_norm": norm.item(), "lr": opt.param_groups[0]["lr"]})
    opt.step()
    sched.step()
weights = {n: p.detach().flatten().tolist() for n, p in named}

# the schedules rlhfc offers, as get_scheduler gives them (warm-up 7 of 40 steps), and the decay rule per family
def rates(kind, **kw):
    o = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    s = get_scheduler(kind, o, num_warmup_steps=7, num_training_steps=40, scheduler_specific_kwargs=kw or None)
    out = []
    for _ in range(41):  # steps 0..40: a stage never steps past its total (there Transformers' cosine rises again)
        out.append(o.param_groups[0]["lr"]); o.step(); s.step()
    return out
lr = {"constant": rates("constant_with_warmup"), "linear": rates("linear"), "cosine": rates("cosine"), "cosine_min": rates("cosine_with_min_lr", min_lr_rate=0.1)}
small = dict(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1)
families = {
    "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=32, n_embd=16, n_layer=2, n_head=2, n_positions=16)),
    "llama": LlamaForCausalLM(LlamaConfig(**small)),
    "qwen3": Qwen3ForCausalLM(Qwen3Config(**small, head_dim=8)),
}
models = {n: {"names": [k for k, _ in m.named_parameters()], "decay": sorted(Trainer.get_decay_parameter_names(None, m))} for n, m in families.items()}
print(json.dumps({"log": log, "weights": weights, "decay": sorted(decay), "lr": lr, "models": models}))
`;

interface TorchOut {
  log: { loss: number; grad_norm: number; lr: number }[];
  weights: Record<string, number[]>;
  decay: string[];
  lr: Record<string, number[]>;
  models: Record<string, { names: string[]; decay: string[] }>;
}

describeInterop('interop: rlhfc and Transformers take the same optimizer steps', () => {
  // rlhfc's run and one Python process for both tests (its start-up is most of the Python time)
  let ours: { loss: number; grad_norm: number; lr: number }[] = [];
  let weights = new Map<string, ArrayLike<number>>();
  let torch: TorchOut;
  let opt: OptimizerParams;
  let leaked = 0;
  let batchRows: number[][][] = [];
  beforeAll(async () => {
    await initBackend('cpu');
    const before = tf.memory().numTensors;
    const model = tinyModel({ context: 16, width: 32, heads: 2, layers: 2 }, 3); // width 32: C below
    await toCheckpoint(join(tmp, 'init'), model);
    const lm = new LM(model, tok, undefined, 'causal_lm');
    // warm-up, peak, decay, a floor of 0 at the end; clipping at 0.5 (the tiny model's norms are ~1)
    opt = { lr: 1e-2, weight_decay: 0.1, betas: [0.9, 0.98], eps: 1e-8, schedule: 'cosine', warmup_steps: 8, min_lr_ratio: 0, grad_clip: 0.5 };
    const rows = lmRows(14, 16);
    const next = cycle(rows, 4, 7, 'lockstep');
    const batches: number[][][] = [];
    const dir = join(tmp, 'run');
    mkdirSync(dir, { recursive: true });
    const reporter = new Reporter({ dir, label: 'lockstep', tty: false, write: () => {} });
    await trainLoop({
      ...lm.optimizerParts(opt, STEPS + 10),
      totalSteps: STEPS,
      gradAccum: 1,
      nextBatch: () => {
        const r = next();
        batches.push(r.map((x) => x.ids));
        return collate(r, tok.padId);
      },
      loss: (b) => lm.lmLoss(b, true),
      tokens: (b) => b.B * b.T,
      evalEvery: 0,
      logEvery: 1,
      reporter,
      signal: new AbortController().signal,
    });
    ours = readFileSync(reporter.metricsPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number; grad_norm: number; lr: number });
    weights = new Map([...model.weights].map(([n, v]) => [n, v.dataSync().slice()]));
    lm.dispose();
    leaked = tf.memory().numTensors - before;
    batchRows = batches;
    writeFileSync(join(tmp, 'run.json'), JSON.stringify({ ...opt, total: STEPS + 10, batches }));
    torch = pyJson<TorchOut>(TORCH, { args: [tmp] });
  }, 120_000);

  it(`a tiny GPT-2, ${STEPS} steps of AdamW with warm-up, cosine decay, weight decay and clipping, in lockstep`, () => {
    expect(leaked).toBe(0);
    expect(batchRows.every((b) => b.every((r) => r.length === 17))).toBe(true); // full rows: no padding
    expect(ours).toHaveLength(STEPS);
    expect(torch.log).toHaveLength(STEPS);
    expect(torch.log[0].lr).toBe(0); // Transformers' warm-up starts at 0
    for (let s = 0; s < STEPS; s++) {
      const [a, b] = [ours[s], torch.log[s]];
      expect(a.lr, `lr at step ${s}`).toBeCloseTo(b.lr, 12);
      expect(Math.abs(a.loss - b.loss), `loss at step ${s}: rlhfc ${a.loss}, torch ${b.loss}`).toBeLessThan(2e-5 * b.loss);
      expect(Math.abs(a.grad_norm - b.grad_norm), `grad norm at step ${s}: rlhfc ${a.grad_norm}, torch ${b.grad_norm}`).toBeLessThan(1e-3 * b.grad_norm);
    }
    // the loss fell (training happened) and clipping was active at some step
    expect(ours[STEPS - 1].loss).toBeLessThan(ours[0].loss - 0.5);
    expect(ours.some((m) => m.grad_norm > opt.grad_clip)).toBe(true);
    // every weight, embeddings (decayed in both) and LayerNorms (decayed in neither) included
    expect(torch.decay).toContain('transformer.wte.weight');
    expect(Object.keys(torch.weights).sort()).toEqual([...weights.keys()].sort());
    for (const [name, w] of weights) {
      const t = torch.weights[name];
      let diff = 0;
      let norm = 0;
      // The key bias (the middle third of c_attn.bias) has a gradient of exactly 0 (adding it shifts every
      // score of a query alike, which softmax ignores): both engines hand AdamW float noise there, which
      // it scales up to steps of size lr, so those entries are noise in both and are not compared.
      const C = 32;
      const skip = (i: number) => name.endsWith('attn.c_attn.bias') && i >= C && i < 2 * C;
      for (let i = 0; i < w.length; i++) {
        if (skip(i)) continue;
        diff += (w[i] - t[i]) ** 2;
        norm += t[i] ** 2;
      }
      expect(Math.sqrt(diff / norm), `weights of ${name} after ${STEPS} steps`).toBeLessThan(1e-4);
    }
  });

  it("the schedules are Transformers' get_scheduler and the decay rule is Trainer.get_decay_parameter_names (GPT-2, Llama, Qwen3)", () => {
    const out = torch;
    const o: Omit<ScheduleOptions, 'kind'> = { lr: 1e-3, warmupSteps: 7, totalSteps: 40 };
    const kinds: Record<string, ScheduleOptions> = {
      constant: { ...o, kind: 'constant' },
      linear: { ...o, kind: 'linear' },
      cosine: { ...o, kind: 'cosine' },
      cosine_min: { ...o, kind: 'cosine', minLrRatio: 0.1 },
    };
    for (const [k, sched] of Object.entries(kinds)) {
      out.lr[k].forEach((want, step) => expect(learningRate(step, sched), `${k} at step ${step}`).toBeCloseTo(want, 12));
    }
    for (const [family, m] of Object.entries(out.models)) {
      expect(m.names.length, family).toBeGreaterThan(10);
      expect(m.names.filter(defaultDecay).sort(), family).toEqual(m.decay.filter((n) => m.names.includes(n))); // lm_head: tied to wte (one parameter)
    }
  });
});
