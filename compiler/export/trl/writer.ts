// One stage script: the helpers every stage kind's emitter (stages/<kind>.ts) writes its script
// with — imports, argument parsing, mapped config calls, model loading, the trainer call — and the
// script's frame (header, docstring, imports, main()).

import type { Plan, PlanNode } from '../../../core/plan-types.ts';
import type { ResolvedParams } from '../../../core/schema.ts';
import { SOURCE_MAPPING } from './source-rows.ts';
import { fieldValues, presentRows, valueAt, type Into, type Py, type Row, type StageClasses } from './rows.ts';
import { call, expr, pyLit, type Kwarg } from './py.ts';

export interface ClusterOptions {
  gpus: number;
  nodes: number;
  strategy: 'ddp' | 'zero2' | 'zero3' | 'fsdp';
  /** auto: decided when the export runs (common.mixed_precision(): bf16 on a GPU that has it, else fp32). */
  mixed_precision: 'auto' | 'no' | 'fp16' | 'bf16';
  /** --deterministic: run.sh sets RLHF_DETERMINISTIC=1 and CUBLAS_WORKSPACE_CONFIG (see common.deterministic()). */
  deterministic?: boolean;
}

/** A config-class instantiation in the emitted code, recorded for the field check. */
export interface EmittedCall {
  file: string;
  cls: string;
  kwargs: string[];
}

/** What a stage input is in the exported project. */
export type Resource =
  | { kind: 'folder'; path: string } // a dataset folder, a model folder or Hub id, or a tokenizer folder or Hub id
  | { kind: 'fresh'; node: PlanNode } // a `gpt` or `llama` declaration: GPT2Config or the family's config built in the script
  | { kind: 'judge'; code: string } // a rule judge built in the script
  | { kind: 'none'; why: string };

/** What the TRL target knows about one stage kind: its classes, its mapping rows, its script. */
export interface StageExport {
  classes: StageClasses;
  rows: Row[];
  /** Training stages run under `accelerate launch` on every process; the others as one process. */
  training: boolean;
  /** Writes the script's arguments and body through the writer. */
  emit(w: StageWriter): void;
}

/** Whether a node's parameter is typed float (or list of floats): the Plan says (`PlanNode.floats`). */
function isFloat(n: PlanNode, path: string): boolean {
  return n.floats?.includes(path) ?? false;
}

/** Integral numbers written as Python floats (`1.0`, not `1`), so float settings read as floats. */
function asFloat(v: Py): Py {
  return typeof v === 'number' && Number.isInteger(v) ? expr(`${v}.0`) : v;
}

export class StageWriter {
  readonly unsupported: string[] = [];
  private readonly imports = new Map<string, Set<string>>();
  /** The script's argparse lines and main() body (unindented). */
  readonly args: string[] = [];
  readonly body: string[] = [];
  readonly p: ResolvedParams;
  readonly lora: ResolvedParams | null;
  readonly merge: boolean;
  /** The usual trainer keywords after the model. */
  readonly standard = ['args=config', 'train_dataset=train', 'eval_dataset=validation', 'processing_class=tokenizer'];

  constructor(
    readonly n: PlanNode,
    readonly file: string,
    private readonly calls: EmittedCall[],
    readonly plan: Plan,
    readonly cluster: ClusterOptions,
    readonly res: Record<string, Resource>,
    /** The stage kind's mapping rows (its StageExport's). */
    private readonly rows: Row[],
  ) {
    this.p = n.params;
    this.lora = this.p['lora'] as ResolvedParams | null;
    this.merge = Boolean(this.lora?.['merge']);
  }

  add(...lines: string[]): void {
    this.body.push(...lines);
  }

  use(module: string, ...names: string[]): void {
    const s = this.imports.get(module) ?? new Set<string>();
    names.forEach((x) => s.add(x));
    this.imports.set(module, s);
  }

  /** `--param` for an input that is a folder in the project. */
  argFor(param: string, help: string): void {
    const r = this.res[param];
    if (r?.kind === 'folder') this.args.push(`parser.add_argument("--${param}", required=True, help=${pyLit(help)})`);
  }

  /** What an input is bound to, for help texts ('sft.model', 'dataset prefs'). */
  describe(param: string): string {
    const b = this.n.inputs[param];
    if (!b) return '';
    return b.node.startsWith('stage:') ? `${b.node.slice(6)}.${b.output}` : b.node.replace(':', ' ');
  }

  /** `Cls(...)` with the given keyword arguments, recorded for the field check. */
  instantiate(cls: string, module: string, kwargs: Kwarg[], indent = ''): string {
    this.use(module, cls);
    this.calls.push({ file: this.file, cls, kwargs: kwargs.map((k) => k.name) });
    return call(cls, kwargs, indent);
  }

  /** Mapped keyword arguments of the rows going `into` a target, each commented with its rlhfc parameter. */
  mapped(into: Into): Kwarg[] {
    const out: Kwarg[] = [];
    for (const r of presentRows(this.rows, this.n.params)) {
      if (r.into !== into || (r.unsupported && r.unsupported(valueAt(this.n.params, r.param), this.n.params))) continue;
      const float = isFloat(this.n, r.param);
      for (const [name, value] of Object.entries(fieldValues(r, this.n.params))) out.push({ name, value: float ? asFloat(value) : value, comment: r.param });
    }
    return out;
  }

  settingKwargs(): Kwarg[] {
    const seed = SOURCE_MAPPING['setting seed'][0];
    const mp = SOURCE_MAPPING['setting cluster'].find((r) => r.param === 'cluster.mixed_precision')!;
    const out: Kwarg[] = [];
    for (const [name, value] of Object.entries(fieldValues(seed, { seed: this.plan.seed }))) out.push({ name, value, comment: 'seed' });
    for (const [name, value] of Object.entries(fieldValues(mp, { cluster: { mixed_precision: this.cluster.mixed_precision } }))) out.push({ name, value, comment: 'cluster.mixed_precision' });
    return out;
  }

  configCall(cls: StageClasses, extra: Kwarg[] = []): string {
    const kwargs: Kwarg[] = [
      { name: 'output_dir', value: expr('os.path.join(args.out, "trainer")'), comment: 'checkpoints and logs; the result goes to args.out' },
      ...this.mapped('config').map((k) =>
        k.name === 'eval_strategy' && k.value === 'steps' ? { ...k, value: expr('"steps" if validation is not None else "no"') } : k,
      ),
      ...extra,
      ...this.settingKwargs(),
      { name: 'optim', value: 'adamw_torch', comment: 'AdamW, as rlhfc' },
      { name: 'gradient_checkpointing', value: false },
      { name: 'report_to', value: 'none', comment: 'set to "wandb" or "tensorboard" to track runs' },
    ];
    this.use('os');
    return this.instantiate(cls.config!, cls.module, kwargs);
  }

  /** The architecture family of the model this stage trains (`gpt2`, `llama`, `qwen2`, …), from the Plan's model facts. */
  family(): string | undefined {
    const byId = new Map(this.plan.nodes.map((x) => [x.id, x]));
    for (const param of ['model', 'policy']) {
      const b = this.n.inputs[param];
      const f = b && byId.get(b.node)?.model?.family;
      if (f) return f;
    }
    return this.n.model?.family;
  }

  loraCall(task: 'CAUSAL_LM' | 'SEQ_CLS'): string {
    if (this.n.params['lora'] === null) return 'None';
    const family = this.family();
    if (family === undefined) {
      // A Hub id: the compiler does not know the architecture. PEFT then picks what rlhfc would for the
      // family: its default targets for the model_type (when the spec names none) and fan_in_fan_out for
      // Conv1D layers (it switches it on for GPT-2 itself).
      const defaulted = this.n.defaults.includes('lora.targets');
      return this.instantiate('LoraConfig', 'peft', [
        ...this.mapped('lora').filter((k) => !(defaulted && k.name === 'target_modules')),
        { name: 'task_type', value: task },
      ]) + (defaulted ? '  # no target_modules: PEFT\'s default for the model\'s architecture (unknown at compile time), as rlhfc\'s' : '');
    }
    return this.instantiate('LoraConfig', 'peft', [
      ...this.mapped('lora'),
      { name: 'task_type', value: task },
      family === 'gpt2' // transformers' GPT-2 (Conv1D projections); every other family the Plan names uses nn.Linear
        ? { name: 'fan_in_fan_out', value: true, comment: "GPT-2's attention and MLP projections are Conv1D layers" }
        : { name: 'fan_in_fan_out', value: false, comment: `the ${family} model's projections are nn.Linear layers` },
    ]);
  }

  generationCall(): string {
    return this.instantiate('GenerationConfig', 'transformers', [{ name: 'do_sample', value: true }, ...this.mapped('generation')]);
  }

  /** Lines that set `tokenizer` and `<name>` from a model input. */
  model(name: string, param: string, r: Resource, head: 'lm' | 'scalar', withTokenizer = true): string[] {
    const lines: string[] = [];
    if (r.kind === 'fresh') {
      if (withTokenizer) lines.push('tokenizer = common.load_tokenizer(args.tokenizer)');
      lines.push(...(r.node.kind === 'llama' ? this.freshLlama(name, r.node, head) : this.freshGpt(name, r.node, head)));
      return lines;
    }
    if (withTokenizer) lines.push(`tokenizer = common.load_tokenizer(args.${param})`);
    lines.push(head === 'scalar' ? `${name} = common.load_scalar_model(args.${param}, tokenizer.pad_token_id)` : `${name} = common.load_causal_lm(args.${param})`);
    return lines;
  }

  /** The keyword arguments of a fresh model's config from its declaration's mapped rows. */
  private sized(node: PlanNode, key: 'model gpt' | 'model llama'): Kwarg[] {
    return SOURCE_MAPPING[key].flatMap((row) =>
      Object.entries(fieldValues(row, node.params)).map(([k, v]) => ({ name: k, value: isFloat(node, row.param) ? asFloat(v) : v, comment: `${node.name}.${row.param}` })),
    );
  }

  /** A `gpt { }` declaration: GPT2Config and GPT2LMHeadModel (GPT2ForSequenceClassification for a scalar head). */
  private freshGpt(name: string, node: PlanNode, head: 'lm' | 'scalar'): string[] {
    const special: Kwarg[] = [
      { name: 'vocab_size', value: expr('len(tokenizer)') },
      { name: 'bos_token_id', value: expr('tokenizer.eos_token_id') },
      { name: 'eos_token_id', value: expr('tokenizer.eos_token_id') },
      ...(head === 'scalar' ? [{ name: 'pad_token_id', value: expr('tokenizer.pad_token_id') }, { name: 'num_labels', value: 1 }] : []),
    ];
    const cls = head === 'scalar' ? 'GPT2ForSequenceClassification' : 'GPT2LMHeadModel';
    this.use('transformers', cls);
    return [
      `# model ${node.name} = gpt at ${node.loc.file}:${node.loc.line}:${node.loc.col}: a GPT-2 trained from scratch`,
      `${name}_config = ${this.instantiate('GPT2Config', 'transformers', [...this.sized(node, 'model gpt'), ...special])}`,
      `${name} = ${cls}(${name}_config)`,
    ];
  }

  /**
   * A `llama { }` declaration: the family's config (LlamaConfig, Qwen2Config, Qwen3Config, MistralConfig) with
   * the fields rlhfc writes into a config.json it builds (runtime/model/io.ts llamaHfConfig) — sizes, rope,
   * RMSNorm ε, tie, SwiGLU, biases (Qwen2's q/k/v biases are its class's own; Llama's and Qwen3's off), no
   * sliding window — and its ForCausalLM (ForSequenceClassification with a `score` head for a scalar model).
   */
  private freshLlama(name: string, node: PlanNode, head: 'lm' | 'scalar'): string[] {
    const family = String(node.params['family']);
    const prefix = ({ llama: 'Llama', qwen2: 'Qwen2', qwen3: 'Qwen3', mistral: 'Mistral' } as Record<string, string>)[family];
    const sized = this.sized(node, 'model llama');
    const headDim = sized.find((k) => k.name === 'head_dim')!;
    const byFamily: Kwarg[] = [
      { name: 'hidden_act', value: 'silu', comment: 'SwiGLU' },
      ...(family === 'llama' || family === 'qwen3' ? [{ name: 'attention_bias', value: false }] : []),
      ...(family === 'llama' ? [{ name: 'mlp_bias', value: false }] : []),
      ...(family === 'mistral' ? [{ name: 'sliding_window', value: null }] : []),
      ...(family === 'qwen2' || family === 'qwen3' ? [{ name: 'use_sliding_window', value: false }] : []),
    ];
    const special: Kwarg[] = [
      { name: 'vocab_size', value: expr('len(tokenizer)') },
      { name: 'bos_token_id', value: expr('tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id') },
      { name: 'eos_token_id', value: expr('tokenizer.eos_token_id') },
      ...(head === 'scalar' ? [{ name: 'pad_token_id', value: expr('tokenizer.pad_token_id') }, { name: 'num_labels', value: 1 }] : []),
    ];
    const cls = `${prefix}${head === 'scalar' ? 'ForSequenceClassification' : 'ForCausalLM'}`;
    this.use('transformers', cls);
    const kwargs = [...sized.filter((k) => family !== 'qwen2' || k.name !== 'head_dim'), ...byFamily, ...special];
    return [
      `# model ${node.name} = llama at ${node.loc.file}:${node.loc.line}:${node.loc.col}: a ${family} model trained from scratch`,
      `${name}_config = ${this.instantiate(`${prefix}Config`, 'transformers', kwargs)}`,
      ...(family === 'qwen2' ? [`${name}_config.head_dim = ${pyLit(headDim.value as number)}  # ${headDim.comment}: Qwen2Config has no such field; Qwen2 reads it from the config`] : []),
      `${name} = ${cls}(${name}_config)`,
    ];
  }

  /** `trainer = Cls(kw=…)`, train (resuming from the last checkpoint), evaluate, save the result. */
  trainer(pkg: string, trainerCls: string, kwargs: string[], o: { evaluate?: string[] | false; resume?: boolean; save?: string } = {}): void {
    this.use(pkg, trainerCls);
    const kwarg = (k: string) => {
      const [code, comment] = k.split('  # ');
      return `    ${code},${comment ? `  # ${comment}` : ''}`;
    };
    this.add(`trainer = ${trainerCls}(`, ...kwargs.map(kwarg), ')');
    this.add(o.resume === false ? 'trainer.train()' : 'trainer.train(resume_from_checkpoint=common.last_checkpoint(config.output_dir))');
    if (o.evaluate !== false) this.add(...(o.evaluate ?? ['if validation is not None:', '    trainer.log_metrics("eval", trainer.evaluate())']));
    this.add(`common.save_result(trainer, tokenizer, args.out${o.save ?? (this.merge ? ', merge_lora=True' : '')})`);
  }

  /** The whole script: header, docstring, what was not exported, imports, main() with the stage's body. */
  render(stage: StageExport, header: string): string {
    const n = this.n;
    this.use('argparse');
    this.use('rlhf_export', 'common');
    stage.emit(this);
    const notes = this.unsupported.length
      ? ['', '# Not exported (no equivalent in the pinned TRL; rlhfc reported RLHF5001):', ...this.unsupported.map((u) => `#   ${u}`)]
      : [];
    const lines = [
      header,
      `"""Stage ${n.name} (${n.kind}): ${stage.classes.doc.replace(/`/g, '')}."""`,
      ...notes,
      '',
      ...this.importLines(),
      '',
      '',
      'def main() -> None:',
      `    parser = argparse.ArgumentParser(description=${pyLit(`stage ${n.name} (${n.kind})`)})`,
      ...this.args.map((a) => `    ${a}`),
      '    parser.add_argument("--out", required=True, help="folder for this stage\'s result")',
      '    args = parser.parse_args()',
      `    common.start(seed=${pyLit(this.plan.seed)})  # seed: model initialisation too (a fresh model, a reward head are built before the trainer seeds)`,
      '',
      ...this.body.flatMap((l) => l.split('\n')).map((l) => (l ? `    ${l}` : '')),
      '',
      '',
      'if __name__ == "__main__":',
      '    main()',
      '',
    ];
    return lines.join('\n');
  }

  private importLines(): string[] {
    const std = ['argparse', 'json', 'math', 'os', 'statistics', 'subprocess'].filter((m) => this.imports.has(m)).map((m) => `import ${m}`);
    // isort's default order within a line: CONSTANTS, then Classes, then functions and modules.
    const rank = (x: string) => (x === x.toUpperCase() ? 0 : x[0] === x[0].toUpperCase() ? 1 : 2);
    const order = (a: string, b: string) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
    const from = (m: string) => `from ${m} import ${[...this.imports.get(m)!].sort(order).join(', ')}`;
    const stdFrom = ['pathlib'].filter((m) => this.imports.has(m)).map(from);
    const third = ['peft', 'transformers', 'trl'].filter((m) => this.imports.has(m)).map(from);
    const local = ['rlhf_export', 'rlhf_export.data', 'rlhf_export.odin', 'rlhf_export.ppo', 'rlhf_export.seedrandom'].filter((m) => this.imports.has(m)).map(from);
    return [...std, ...stdFrom, ...(third.length ? ['', ...third] : []), '', ...local];
  }
}
