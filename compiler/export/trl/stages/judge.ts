// judge → a script: sample with `generate()`, score with the judge, keep best/worst as chosen/rejected.

import { generation, maxPrompts, promptLength, rowsOf } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import { samplingPreamble } from './sampling.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/judge.ts';

/** Rows of judge's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const judge: StageExport = {
  classes: { module: 'transformers', doc: 'script: sample with `generate()`, score with the judge, keep best/worst as chosen/rejected' },
  training: false,
  rows: [
    row((p) => p.samples_per_prompt, { script: 'responses sampled per prompt; the best and worst scored become chosen and rejected' }),
    maxPrompts,
    promptLength,
    row((p) => p.ties, { script: '`drop` skips prompts whose scores are all equal; `random` picks two samples with the seed' }),
    ...generation('generation'),
  ],
  emit(w) {
    const p = w.p;
    const { judgeLine } = samplingPreamble(w);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'), 'model.to(common.device())');
    w.add(judgeLine());
    w.add(`SAMPLES_PER_PROMPT = ${pyLit(p['samples_per_prompt'])}`);
    w.add('responses = [[] for _ in prompts]', 'scores = [[] for _ in prompts]');
    w.add('for k in range(SAMPLES_PER_PROMPT):  # round k samples one response for every prompt', '    set_seed(SEED * 131 + k)', '    texts = common.sample(model, tokenizer, prompts, MAX_PROMPT_LENGTH, generation)', '    for i, (text, score) in enumerate(zip(texts, judge(prompts, texts))):', '        responses[i].append(text)', '        scores[i].append(score)');
    w.add('records, ties = [], 0', 'for i, prompt in enumerate(prompts):', '    sc = scores[i]', '    best, worst = sc.index(max(sc)), sc.index(min(sc))', '    if sc[best] == sc[worst]:', '        ties += 1');
    w.add(p['ties'] === 'drop' ? '        continue  # ties: drop' : '        best, worst = shuffle(range(len(sc)), f"{SEED}:{i}")[:2]  # ties: random, seeded as in rlhfc');
    w.add('    records.append({"prompt": prompt, "chosen": responses[i][best], "rejected": responses[i][worst], "margin": sc[best] - sc[worst]})');
    w.add('if not records:', '    raise SystemExit(f"every prompt\'s samples scored the same ({ties} ties): no preference pairs")');
    w.add('train_pairs, validation_pairs = split_dataset(records, 0.1, SEED)', 'write_jsonl(Path(args.out) / "train.jsonl", train_pairs)', 'write_jsonl(Path(args.out) / "validation.jsonl", validation_pairs)');
    w.add('print(f"{len(records)} preference pairs ({ties} ties)")');
    w.use('pathlib', 'Path');
    w.use('rlhf_export.data', 'write_jsonl');
    w.use('rlhf_export.seedrandom', 'shuffle', 'split_dataset');
  },
};
