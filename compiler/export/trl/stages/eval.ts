// eval → a script: sample with `generate()`, score with the judge, KL to the reference; report.json.

import { chatTemplate, generation, maxPrompts, promptLength, rowsOf, usesChat } from '../rows.ts';
import { pyLit } from '../py.ts';
import type { StageExport } from '../writer.ts';
import { samplingPreamble } from './sampling.ts';
import type { ParamsOf } from '../../../../core/schema.ts';
import type { schema } from '../../../../runtime/stages/eval.ts';

/** Rows of eval's parameters, each through an accessor checked against its schema's types. */
const row = rowsOf<ParamsOf<(typeof schema)['params']>>();

export const evalStage: StageExport = {
  classes: { module: 'transformers', doc: 'script: sample with `generate()`, score with the judge, KL to the reference; writes report.json' },
  training: false,
  rows: [maxPrompts, promptLength, chatTemplate, row((p) => p.samples, { script: 'sample generations kept per model in report.json' }), ...generation('generation')],
  emit(w) {
    const n = w.n;
    const p = w.p;
    const { judgeLine, modelParams } = samplingPreamble(w);
    const chat = usesChat(p) ? ', chat=True' : '';
    w.add(judgeLine());
    if (n.inputs['reference']) w.add('reference = common.load_causal_lm(args.reference).to(common.device())');
    w.add(`NAMES = ${pyLit(modelParams.map((m) => w.describe(m)))}`);
    w.add('results = []', 'for name, folder in zip(NAMES, args.models):');
    w.add('    tokenizer = common.load_tokenizer(folder)', '    model = common.load_causal_lm(folder).to(common.device())', '    set_seed(SEED)', `    responses = common.sample(model, tokenizer, prompts, MAX_PROMPT_LENGTH, generation${chat})`, '    scores = judge(prompts, responses)');
    w.add('    result = {"model": name, "mean_score": statistics.fmean(scores), "stderr": statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0}');
    if (n.inputs['reference']) w.add('    # KL(policy ‖ reference) on the policy\'s own samples, both at the sampling temperature', `    lp = common.sequence_logprobs(model, tokenizer, prompts, responses, MAX_PROMPT_LENGTH, generation.temperature${chat})`, `    lr = common.sequence_logprobs(reference, tokenizer, prompts, responses, MAX_PROMPT_LENGTH, generation.temperature${chat})`, '    result["kl"] = statistics.fmean(a - b for a, b in zip(lp, lr))');
    w.add(`    result["samples"] = [{"prompt": q, "response": r, "score": s} for q, r, s in list(zip(prompts, responses, scores))[: ${pyLit(p['samples'])}]]`, '    results.append(result)', '    print(f"{name}: score {result[\'mean_score\']:.3f} ± {result[\'stderr\']:.3f}" + (f", KL {result[\'kl\']:.2f}" if "kl" in result else ""))');
    w.add('Path(args.out).mkdir(parents=True, exist_ok=True)', `report = {"prompts": len(prompts), "held_out": bool(validation), "temperature": generation.temperature, "results": results}`, '(Path(args.out) / "report.json").write_text(json.dumps(report, indent=2) + "\\n", encoding="utf-8")');
    w.use('json');
    w.use('math');
    w.use('statistics');
    w.use('pathlib', 'Path');
  },
};
