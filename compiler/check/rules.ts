// Cross-field rules (RLHF3007): each schema's `rules` run on fully resolved params with the facts
// that flow along the graph (an input's model architecture, a tokenizer's vocabulary), after the
// length defaults are capped at the context of the model they refer to.

import type * as A from '../../grammar/ast.ts';
import { diag, type Diagnostic } from '../../core/diagnostics.ts';
import type { InputFacts, ResolvedParams, StageSchema } from '../../core/schema.ts';
import type { CheckedNode, TreeResult, Where } from './context.ts';

/** Each violation as a diagnostic at the parameter it names (else at the declaration). */
export function reportRules(ds: Diagnostic[], violations: { path: string; message: string }[], spans: Map<string, Where>, fallback: A.Span): void {
  for (const v of violations) {
    const w = spans.get(v.path);
    ds.push(diag('RLHF3007', v.message, w?.span ?? fallback, { related: w?.related }));
  }
}

/** Facts flowing into a stage: each input's model facts; a tokenizer input supplies the vocabulary. */
export function inputFacts(out: TreeResult): Record<string, InputFacts | undefined> {
  const facts: Record<string, InputFacts | undefined> = {};
  for (const [param, b] of Object.entries(out.inputs)) {
    const n = out.inputNodes[param];
    facts[param] = { type: b.type, model: n.model, vocab_size: n.vocab_size };
  }
  return facts;
}

/** The model facts a stage's output carries from the input it names in `carries`. */
export function carryFacts(node: CheckedNode, schema: StageSchema, facts: Record<string, InputFacts | undefined>): void {
  const tokVocab = facts['tokenizer']?.vocab_size;
  for (const inParam of Object.values(schema.carries ?? {})) {
    const m = facts[inParam]?.model;
    if (m) node.model = { ...m, tokenized: m.tokenized || Boolean(facts['tokenizer']), vocab_size: m.vocab_size ?? tokVocab };
  }
}

/** Length defaults follow a smaller model context (a user-written value is checked by the rules). */
export function capDefaults(params: ResolvedParams, defaults: string[], schema: StageSchema, facts: Record<string, InputFacts | undefined>): void {
  for (const [key, spec] of Object.entries(schema.params)) {
    if (spec.type !== 'int' || !spec.capDefaultAtContextOf || !defaults.includes(key)) continue;
    const ctxLen = facts[spec.capDefaultAtContextOf]?.model?.context;
    const cap = ctxLen === undefined ? undefined : Math.max(1, Math.floor(ctxLen * (spec.capFraction ?? 1)));
    if (cap !== undefined && (params[key] as number) > cap) params[key] = cap;
  }
}
