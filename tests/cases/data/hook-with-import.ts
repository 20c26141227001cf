// A hook that imports another local file: the TRL export copies only the hook file, so it refuses it.
import { exactAnswer } from './record-hooks.ts';
export function politeAnswer(prompt: string, response: string, record: { prompt: string; answer: string }): number {
  return exactAnswer(prompt, response, record) + (response.includes('please') ? 1 : 0);
}
