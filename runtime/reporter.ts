// Metrics and progress for a running stage: every metrics line goes to `metrics.jsonl` in the
// stage's output folder; a progress bar (cli-progress) on a terminal, plain log lines otherwise.

import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { formatFinding, HealthMonitor, type Finding, type HealthParams } from './health.ts';

export type Metrics = Record<string, number | string>;

export interface ReporterOptions {
  /** Folder of the stage's outputs; metrics.jsonl is written there. */
  dir: string;
  /** Stage name shown in front of every line. */
  label: string;
  /** Show a progress bar (default: stderr is a TTY and not CI). */
  tty?: boolean;
  /** Where plain lines go (default: stderr). */
  write?: (line: string) => void;
  /** The run's combined metrics file: every line is appended there too, tagged with the stage. */
  runMetricsPath?: string;
  /** Watch the metrics lines with the training-health monitor under these thresholds (a stage's `health` block). */
  health?: HealthParams;
}

function fmt(v: number | string): string {
  if (typeof v === 'string') return v;
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export class Reporter {
  readonly metricsPath: string;
  private bar?: cliProgress.SingleBar;
  private total = 0;
  private readonly write: (line: string) => void;
  private readonly tty: boolean;
  private readonly started = performance.now();
  private readonly monitor?: HealthMonitor;

  constructor(private readonly opts: ReporterOptions) {
    this.metricsPath = join(opts.dir, 'metrics.jsonl');
    this.tty = opts.tty ?? (Boolean(process.stderr.isTTY) && !process.env.CI);
    this.write = opts.write ?? ((l) => process.stderr.write(l + '\n'));
    if (opts.health) this.monitor = new HealthMonitor(opts.health);
  }

  /** The step the stage resumed from (a checkpoint that loaded); undefined when it started from step 0. */
  resumedFrom?: number;

  /** The stage continues from a resumable checkpoint at `step` of `total`. */
  resumed(step: number, total: number): void {
    this.resumedFrom = step;
    this.note(`resuming from the checkpoint at step ${step}/${total}`);
  }

  /** What the training-health monitor found so far (empty without one). */
  findings(): Finding[] {
    return this.monitor?.findings() ?? [];
  }

  /** Begin a progress bar over `total` steps. */
  start(total: number, unit = 'step'): void {
    this.total = total;
    if (this.tty) {
      this.bar = new cliProgress.SingleBar(
        {
          format: `${this.opts.label.padEnd(10)} {bar} {value}/{total} ${unit}s | {info} | {rate}/s | ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { info: '', rate: '0.0' });
    } else {
      this.write(`${this.opts.label}: ${total} ${unit}s`);
    }
  }

  /** Advance the bar to `step` showing a few key numbers. */
  tick(step: number, info: Metrics): void {
    if (!this.bar) return;
    const secs = (performance.now() - this.started) / 1000;
    const text = Object.entries(info)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(' ');
    this.bar.update(step, { info: text, rate: (step / Math.max(secs, 1e-9)).toFixed(1) });
  }

  /** Record a metrics line (JSONL) and, without a TTY, print it. */
  log(m: Metrics): void {
    appendFileSync(this.metricsPath, JSON.stringify(m) + '\n');
    if (this.opts.runMetricsPath) {
      try {
        appendFileSync(this.opts.runMetricsPath, JSON.stringify({ stage: this.opts.label, ...m }) + '\n');
      } catch {
        // the run's copy is a convenience; the stage's own metrics.jsonl is the record
      }
    }
    if (!this.bar) {
      const text = Object.entries(m)
        .map(([k, v]) => `${k}=${fmt(v)}`)
        .join(' ');
      this.write(`${this.opts.label}: ${text}`);
    }
    for (const f of this.monitor?.observe(m) ?? []) this.above(formatFinding(this.opts.label, f));
  }

  /** A line printed above the progress bar (or plainly without one). */
  private above(line: string): void {
    if (this.bar) {
      this.bar.stop();
      this.write(line);
      this.bar.start(this.total, (this.bar as unknown as { value: number }).value ?? 0);
    } else this.write(line);
  }

  /** A free-form line (sample generations, notes), shown above the bar. */
  note(line: string): void {
    this.above(`${this.opts.label}: ${line}`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
