// A user reward function for the coverage spec: how many of the prompt record's words the answer repeats.
export function echoes_prompt(prompt: string, response: string, record: { prompt: string }): number {
  const words = new Set(record.prompt.toLowerCase().split(/\W+/).filter(Boolean));
  return response.toLowerCase().split(/\W+/).filter((w) => words.has(w)).length;
}
