// generate → a script: sample one response per prompt with `generate()`.

import { chatTemplate, generation, maxPrompts, promptLength, usesChat } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import { samplingPreamble } from './sampling.ts';

export const generate: StageExport = {
  classes: { module: 'transformers', doc: 'script: sample one response per prompt with `generate()`' },
  training: false,
  rows: [maxPrompts, promptLength, chatTemplate, ...generation('generation')],
  emit(w) {
    const p = w.p;
    samplingPreamble(w);
    w.add(...w.model('model', 'model', w.res['model'], 'lm'), 'model.to(common.device())');
    w.add('', 'def write(name: str, prompts: list[str], seed: int) -> None:', '    set_seed(seed)', `    responses = common.sample(model, tokenizer, prompts, MAX_PROMPT_LENGTH, generation${usesChat(p) ? ', chat=True' : ''})`);
    w.add('    write_jsonl(Path(args.out) / f"{name}.jsonl", [{"prompt": q, "response": r} for q, r in zip(prompts, responses)])', '');
    w.add('write("train", prompts, SEED + len("train"))');
    w.add(`write("validation", [r["prompt"] for r in validation]${(p['max_prompts'] as number) > 0 ? `[: ${pyLit(p['max_prompts'])}]` : ''}, SEED + len("validation"))`);
    w.add('print(f"{len(prompts)} responses written to {args.out}")');
    w.use('pathlib', 'Path');
    w.use('rlhf_export.data', 'write_jsonl');
  },
};
