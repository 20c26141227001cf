// A user judge for RLAIF/PPO: counts polite words in the response (a small, honest rule).
// Use it in a spec as `judge: fn("./hooks.ts#politeness")`; the compiler checks its signature.
const POLITE = new Set(['please', 'thank', 'thanks', 'kindly', 'grateful', 'appreciate', 'sorry', 'welcome']);

export function politeness(prompt: string, response: string): number {
  const words = response.toLowerCase().match(/[a-z']+/g) ?? [];
  return words.filter((w) => POLITE.has(w)).length;
}
