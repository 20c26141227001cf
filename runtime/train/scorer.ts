// One interface over everything that scores (prompt, response): a rule judge, a user function, or a
// reward model from an earlier stage (read at the last token of prompt + response + end-of-text,
// exactly as the reward stage trained it).

import * as tf from '@tensorflow/tfjs';
import { makeJudge } from '../sources/index.ts';
import type { Artifact, JudgeArtifact, ModelArtifact, StageContext } from '../stage-context.ts';
import { clipForTokens, collate, joinTruncated } from './examples.ts';
import { withBos } from '../tokenizers/types.ts';
import { openLM, type LM } from './lm.ts';

export interface Scorer {
  name: string;
  /** `records`: each prompt's dataset record, passed on to user functions (reward models ignore it). */
  score(prompts: string[], responses: string[], records?: readonly Readonly<Record<string, unknown>>[]): Promise<number[]>;
  dispose(): void;
}

export async function openScorer(ctx: StageContext, input: string): Promise<Scorer> {
  const art = ctx.inputs[input] as Artifact;
  if (art.type === 'judge') {
    const j = art as JudgeArtifact;
    const judge = await makeJudge(j.constructor, j.args, j.baseDir);
    return { name: judge.name, score: (p, r, rec) => judge.score(p, r, rec), dispose: () => {} };
  }
  const rm: LM = await openLM({ ...ctx, inputs: { model: art as ModelArtifact } }, { head: 'reward' });
  const maxLen = rm.model.config.context;
  return {
    name: 'reward model',
    async score(prompts, responses) {
      const out: number[] = [];
      for (let i = 0; i < prompts.length; i += 32) {
        const rows = prompts.slice(i, i + 32).map((p, k) => {
          const { ids } = joinTruncated(withBos(rm.tokenizer, rm.tokenizer.encode(clipForTokens(p, maxLen, 'end'))), [...rm.tokenizer.encode(clipForTokens(responses[i + k], maxLen, 'start')), rm.tokenizer.eosId], maxLen);
          return { ids, loss: ids.map(() => 0) };
        });
        const b = collate(rows, rm.tokenizer.padId, { shift: false });
        const r = tf.tidy(() => rm.model.rewards(tf.tensor2d(b.ids, [b.B, b.T], 'int32'), tf.tensor2d(b.mask, [b.B, b.T]), tf.tensor1d(b.lastIndex, 'int32')));
        out.push(...(await r.data()));
        r.dispose();
      }
      return out;
    },
    dispose: () => rm.dispose(),
  };
}
