// Reward functions that read the prompt's dataset record (checked by ts-morph at compile time).
export function exactAnswer(prompt: string, response: string, record: { prompt: string; answer: string }): number {
  return response.trim() === record.answer ? 1 : 0;
}
export function anyRecord(prompt: string, response: string, record: Record<string, unknown>): number {
  return String(record['answer'] ?? '') === response.trim() ? 1 : 0;
}
export function numberRecord(prompt: string, response: string, record: number): number {
  return record;
}
export function fourParams(prompt: string, response: string, record: object, extra: string): number {
  return extra.length;
}
