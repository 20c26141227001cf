// The verifier of examples/verifiable.rlhf: exact-match reward for two-digit addition.
// Use it as `fn("./verify.ts#addition")` (a reward of grpo/rloo, the judge of eval).
//
// addition(prompt, response) is 1 when the response's answer is the sum written in decimal, else 0:
// - the problem is the last "a+b=" in the prompt (a, b decimal integers);
// - the answer is the run of digits the response starts with, up to its first non-digit, and must
//   equal the sum's decimal digits exactly: for "47+38=", "85", "85\n12" and "85 apples" score 1;
//   "", " 85", "=85", "850", "085" and "8" score 0.
// A prompt that holds no "a+b=" scores 0.
export function addition(prompt: string, response: string): number {
  const problems = [...prompt.matchAll(/(\d+)\+(\d+)=/g)];
  if (problems.length === 0) return 0;
  const [, a, b] = problems[problems.length - 1];
  const answer = /^\d*/.exec(response)![0];
  return answer === String(Number(a) + Number(b)) ? 1 : 0;
}
