// Chat templates: a model's Jinja `chat_template` (tokenizer_config.json or chat_template.jinja)
// rendered with @huggingface/jinja exactly as transformers' `tokenizer.apply_chat_template(messages,
// tokenize=False, add_generation_prompt=...)` renders it: the same context (messages, tools and
// documents absent, add_generation_prompt, the special tokens bos_token/eos_token/unk_token/pad_token,
// extra keyword arguments such as Qwen3's enable_thinking, raise_exception, strftime_now with the C
// locale's English names) and the same whitespace control (trim_blocks and lstrip_blocks).

import { Environment, Interpreter, Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface RenderOptions {
  /** Append the template's opening of an assistant turn (transformers' add_generation_prompt). */
  addGenerationPrompt?: boolean;
  /** Extra template variables (transformers' **kwargs to apply_chat_template), e.g. { enable_thinking: false }. */
  extra?: Record<string, unknown>;
}

/** A template source: a string, or transformers' list form `[{name, template}]` (the one named "default" is used). */
export type ChatTemplateSource = string | readonly { name: string; template: string }[];

/** The template transformers uses by default: the string, or the entry named "default"; throws when there is none. */
export function defaultTemplate(src: ChatTemplateSource): string {
  if (typeof src === 'string') return src;
  const d = src.find((t) => t.name === 'default');
  if (!d) throw new Error(`the tokenizer has several chat templates (${src.map((t) => JSON.stringify(t.name)).join(', ')}) and none named "default"`);
  return d.template;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Python's `datetime.now().strftime(format)` in the C locale, for the directives chat templates use. */
export function strftime(date: Date, format: string): string {
  return format.replace(/%(.)/g, (_, d: string) => {
    switch (d) {
      case 'Y': return String(date.getFullYear());
      case 'y': return pad(date.getFullYear() % 100);
      case 'm': return pad(date.getMonth() + 1);
      case 'd': return pad(date.getDate());
      case 'e': return String(date.getDate()).padStart(2, ' ');
      case 'b': return MONTHS[date.getMonth()].slice(0, 3);
      case 'B': return MONTHS[date.getMonth()];
      case 'a': return DAYS[date.getDay()].slice(0, 3);
      case 'A': return DAYS[date.getDay()];
      case 'H': return pad(date.getHours());
      case 'I': return pad(((date.getHours() + 11) % 12) + 1);
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 'M': return pad(date.getMinutes());
      case 'S': return pad(date.getSeconds());
      case 'j': return pad(Math.floor((Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) - Date.UTC(date.getFullYear(), 0, 1)) / 86_400_000) + 1, 3);
      case '%': return '%';
      default: throw new Error(`strftime_now: the directive %${d} is not supported (supported: %Y %y %m %d %e %b %B %a %A %H %I %p %M %S %j %%)`);
    }
  });
}

/** The error a template raises with raise_exception(message). */
export class ChatTemplateError extends Error {}

const compiled = new Map<string, Template>();

/** Render `messages` with a Jinja chat template; `specials` are the tokenizer's special tokens by name (bos_token, …). */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], specials: Record<string, string>, opts: RenderOptions = {}): string {
  let t = compiled.get(template);
  if (!t) {
    t = new Template(template);
    if (compiled.size > 16) compiled.clear();
    compiled.set(template, t);
  }
  // The environment Template.render builds, with transformers' raise_exception and strftime_now in place
  // of the library's (whose strftime uses the machine's locale); Template.render cannot override them.
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    range: pyRange,
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(`the chat template refused the messages: ${String(message)}`);
    },
    strftime_now: (format: unknown) => strftime(new Date(), String(format)),
    ...specials,
    ...opts.extra,
    messages: messages.map((m) => ({ ...m })),
    tools: null,
    documents: null,
    add_generation_prompt: opts.addGenerationPrompt ?? false,
  };
  for (const [k, v] of Object.entries(globals)) env.set(k, v);
  return new Interpreter(env).run(t.parsed).value as string;
}

/** Python's range(stop) / range(start, stop[, step]). */
function pyRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new ChatTemplateError('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}
