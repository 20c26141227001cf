// Judges for the golden tests (checked by ts-morph at compile time).
export function politeness(prompt: string, response: string): number {
  const polite = ['please', 'thank', 'thanks', 'kindly'];
  return response.toLowerCase().split(/\W+/).filter((w) => polite.includes(w)).length;
}
export function shout(prompt: string, response: string): string {
  return response.toUpperCase();
}
