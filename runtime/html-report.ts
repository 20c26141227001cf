// `rlhfc report`: one self-contained HTML page (inline SVG, no scripts, no network) with the plan
// graph, per-stage metric curves read from each stage's metrics.jsonl, final metrics, and sample
// generations recorded by the stages.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import dagre from '@dagrejs/dagre';
import type { Plan, PlanNode } from '../core/plan-types.ts';
import { ArtifactStore } from './store.ts';
import { LIMITS, readJsonSync, readTextSync } from './validate/files.ts';
import { EvalReportSchema, MetricsRowSchema } from './validate/schemas.ts';
import { healthOf, replay } from './health.ts';

type Row = Record<string, number | string>;

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function readMetrics(dir: string): Row[] {
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  // A damaged line (a kill mid-append, a hand edit) is skipped: the report shows what is readable.
  let text: string;
  try {
    text = readTextSync(p, { what: 'metrics', maxBytes: LIMITS.data });
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        const r = MetricsRowSchema.safeParse(JSON.parse(l));
        return r.success ? [r.data as Row] : [];
      } catch {
        return [];
      }
    });
}

/** A number for a label: short, and exact enough to read the value. */
function fmtNum(v: number, digits = 4): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-2) return v.toExponential(Math.max(1, digits - 2)).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(digits)));
}

/** Labels for the two ends of an axis: as short as possible while still different. */
function axisLabels(lo: number, hi: number): [string, string] {
  for (let digits = 3; digits < 9; digits++) if (fmtNum(lo, digits) !== fmtNum(hi, digits)) return [fmtNum(lo, digits), fmtNum(hi, digits)];
  return [fmtNum(lo, 9), fmtNum(hi, 9)];
}

/**
 * A small line chart of one metric against `step`. A constant series (a fixed learning rate, a
 * score that did not move) is drawn mid-height and its value is written in the title.
 */
export function lineChart(title: string, points: [number, number][], w = 320, h = 160): string {
  const pad = 48;
  if (points.length === 0) return '';
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const constant = y0 === y1;
  if (constant) {
    const m = Math.abs(y0) / 2 || 1;
    [y0, y1] = [y0 - m, y1 + m];
  }
  // One point, or several at one step: spread them over the middle of the axis.
  const sx = (x: number) => (x1 === x0 ? (pad + w - 8) / 2 : pad + ((x - x0) / (x1 - x0)) * (w - pad - 8));
  const sy = (y: number) => h - 20 - ((y - y0) / (y1 - y0)) * (h - 40);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
  const shown = constant ? `${title} = ${fmtNum(ys[0])}${points.length > 1 ? ' (constant)' : ''}` : title;
  return `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(shown)}" data-metric="${esc(title)}">
<text x="${pad}" y="12" class="t">${esc(shown)}</text>
<line x1="${pad}" y1="${h - 20}" x2="${w - 8}" y2="${h - 20}" class="ax"/><line x1="${pad}" y1="20" x2="${pad}" y2="${h - 20}" class="ax"/>
<text x="${pad - 4}" y="24" class="l y1" text-anchor="end">${axisLabels(y0, y1)[1]}</text><text x="${pad - 4}" y="${h - 22}" class="l y0" text-anchor="end">${axisLabels(y0, y1)[0]}</text>
<text x="${pad}" y="${h - 6}" class="l">${x0 === x1 ? '' : `step ${x0}`}</text><text x="${w - 8}" y="${h - 6}" class="l" text-anchor="end">step ${x1}</text>
${points.length > 1 ? `<path d="${d}" class="p"/>` : ''}${points.map((p) => (points.length <= 2 ? `<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" class="p"/>` : '')).join('')}
</svg>`;
}

/** A small bar chart of one metric per model (an evaluation compares models, not steps). */
export function barChart(title: string, bars: [string, number][], w = 320, h = 160): string {
  if (bars.length === 0) return '';
  const pad = 48;
  const vals = bars.map((b) => b[1]);
  const lo = Math.min(0, ...vals);
  let hi = Math.max(0, ...vals);
  if (hi === lo) hi = lo + 1;
  const sy = (y: number) => h - 20 - ((y - lo) / (hi - lo)) * (h - 40);
  const slot = (w - pad - 8) / bars.length;
  const rects = bars.map(([label, v], i) => {
    const x = pad + i * slot + slot * 0.15;
    const top = Math.min(sy(v), sy(0));
    const height = Math.max(Math.abs(sy(v) - sy(0)), 1);
    return `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${height.toFixed(1)}" class="b"/><text x="${(x + slot * 0.35).toFixed(1)}" y="${(top - 3).toFixed(1)}" class="l" text-anchor="middle">${fmtNum(v)}</text><text x="${(x + slot * 0.35).toFixed(1)}" y="${h - 6}" class="l" text-anchor="middle">${esc(label)}</text>`;
  });
  return `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}" data-metric="${esc(title)}">
<text x="${pad}" y="12" class="t">${esc(title)}</text>
<line x1="${pad}" y1="${sy(0).toFixed(1)}" x2="${w - 8}" y2="${sy(0).toFixed(1)}" class="ax"/><line x1="${pad}" y1="20" x2="${pad}" y2="${h - 20}" class="ax"/>
<text x="${pad - 4}" y="24" class="l y1" text-anchor="end">${axisLabels(lo, hi)[1]}</text><text x="${pad - 4}" y="${h - 22}" class="l y0" text-anchor="end">${axisLabels(lo, hi)[0]}</text>
${rects.join('')}
</svg>`;
}

/** Layered drawing of the plan's DAG (stages and their sources), laid out by dagre so edges go around boxes. */
export function planGraph(plan: Plan): string {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 12, ranksep: 46, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const bh = 34;
  // Box width from the longer of its two lines (12px bold name, 10px kind).
  const label = (n: PlanNode) => (n.category === 'stage' ? n.kind : `${n.category} ${n.kind}`);
  for (const n of plan.nodes) g.setNode(n.id, { width: Math.max(110, 16 + Math.max(n.name.length * 7.6, label(n).length * 6)), height: bh });
  for (const n of plan.nodes) for (const b of Object.values(n.inputs)) if (g.hasNode(b.node)) g.setEdge(b.node, n.id);
  dagre.layout(g);
  const W = Math.ceil(g.graph().width ?? 0);
  const H = Math.ceil(g.graph().height ?? 0);
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const pts = g.edge(e).points ?? [];
    // A smooth path through dagre's points: straight to the first midpoint, then quadratic curves.
    let d = `M${pts[0].x.toFixed(1)},${pts[0].y.toFixed(1)}`;
    for (let i = 1; i < pts.length - 1; i++) {
      const mx = (pts[i].x + pts[i + 1].x) / 2;
      const my = (pts[i].y + pts[i + 1].y) / 2;
      d += ` Q${pts[i].x.toFixed(1)},${pts[i].y.toFixed(1)} ${mx.toFixed(1)},${my.toFixed(1)}`;
    }
    const last = pts[pts.length - 1];
    d += ` L${last.x.toFixed(1)},${last.y.toFixed(1)}`;
    return `<path d="${d}" class="e" marker-end="url(#arrow)" data-from="${esc(e.v)}" data-to="${esc(e.w)}"/>`;
  });
  const boxes = plan.nodes.map((n) => {
    const { x, y, width } = g.node(n.id);
    const [left, top] = [x - width / 2, y - bh / 2];
    return `<g class="node" data-id="${esc(n.id)}"><rect x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${width.toFixed(1)}" height="${bh}" rx="5" class="n ${n.category}"/><text x="${(left + 8).toFixed(1)}" y="${(top + 14).toFixed(1)}" class="nn">${esc(n.name)}</text><text x="${(left + 8).toFixed(1)}" y="${(top + 27).toFixed(1)}" class="nk">${esc(label(n))}</text></g>`;
  });
  const marker = '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="a"/></marker></defs>';
  return `<svg class="plan" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="plan graph">${marker}${edges.join('')}${boxes.join('')}</svg>`;
}

const CSS = `body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.chart{margin:4px 8px 4px 0;border:1px solid #eee}.t{font-size:12px;font-weight:600}.l{font-size:10px;fill:#666}
.ax{stroke:#999}.p{stroke:#2563eb;fill:none;stroke-width:1.6}circle.p{fill:#2563eb}
.e{stroke:#94a3b8;fill:none;stroke-width:1.2}.a{fill:#94a3b8}.b{fill:#93c5fd;stroke:#2563eb}.n{fill:#f8fafc;stroke:#64748b}.n.stage{fill:#dbeafe;stroke:#2563eb}.nn{font-size:12px;font-weight:600}.nk{font-size:10px;fill:#555}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:12px}.muted{color:#777}
.flag{color:#b91c1c;font-weight:600}.flagged{border-left:3px solid #b91c1c;padding-left:8px}`;

interface EvalResult {
  model: string;
  mean_score: number;
  stderr: number;
  kl?: number;
  length_corr?: number | null;
  degeneration?: { words: { mean: number; p10: number; p50: number; p90: number }; tokens?: { mean: number }; empty_rate: number; distinct_1: number; distinct_2: number; repetition_2: number };
  flags?: string[];
  samples: { prompt: string; response: string; score: number }[];
}

/**
 * An eval stage's comparison: score, KL and the degeneration statistics of each model, and for a
 * model that moved too far from its reference (diversity down, length changed), the reasons and its
 * sample generations beside them.
 */
export function evalTable(dir: string): string {
  const p = join(dir, 'report', 'report.json');
  if (!existsSync(p)) return '';
  let report: { judge: string; accuracy?: boolean; results: EvalResult[] };
  try {
    report = readJsonSync(p, EvalReportSchema, { what: 'eval report' });
  } catch (e) {
    return `<p class="flag">${esc((e as Error).message)}</p>`;
  }
  const f = (v: number | undefined, d = 2) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
  const head = `<tr><th>model</th><th>${report.accuracy ? 'accuracy (0/1 judge)' : 'score'}</th><th>KL</th><th>words: mean (p10 / p50 / p90)</th><th>tokens</th><th>empty</th><th>distinct-1</th><th>distinct-2</th><th>repetition</th><th title="correlation of the judge's score with answer length (tokens)">score–length r</th><th></th></tr>`;
  const rows = report.results.map((r) => {
    const d = r.degeneration;
    const flag = r.flags?.length ? '<td class="flag">possible reward hacking</td>' : '<td></td>';
    const cells = d
      ? `<td>${f(d.words.mean, 1)} (${f(d.words.p10, 0)} / ${f(d.words.p50, 0)} / ${f(d.words.p90, 0)})</td><td>${f(d.tokens?.mean, 1)}</td><td>${f(d.empty_rate * 100, 0)}%</td><td>${f(d.distinct_1)}</td><td>${f(d.distinct_2)}</td><td>${f(d.repetition_2)}</td>`
      : '<td colspan="6"></td>';
    return `<tr><td>${esc(r.model)}</td><td>${f(r.mean_score, 3)} ± ${f(r.stderr, 3)}</td><td>${f(r.kl)}</td>${cells}<td>${f(r.length_corr ?? undefined)}</td>${flag}</tr>`;
  });
  const flagged = report.results
    .filter((r) => r.flags?.length)
    .map(
      (r) =>
        `<div class="flagged"><p><b>${esc(r.model)}: possible reward hacking</b> — ${esc(r.flags!.join('; '))}</p><pre>${esc(r.samples.map((x) => `${JSON.stringify(x.prompt)} → ${JSON.stringify(x.response)} (${x.score.toFixed(3)})`).join('\n'))}</pre></div>`,
    );
  return `<h3>Models compared (judge: ${esc(report.judge)})</h3><table class="eval">${head}${rows.join('')}</table>${flagged.join('')}`;
}

/** Build the report page for the plan's stages from the store. */
/** The training-health monitor's findings on a stage's logged metrics (runtime/health.ts), as a list; '' when healthy or not a training stage. */
export function healthList(node: PlanNode, rows: Record<string, unknown>[]): string {
  const thresholds = healthOf(node.params);
  const found = thresholds ? replay(rows, thresholds) : [];
  if (!found.length) return '';
  const items = found.map((f) => `<li><b>step ${f.step}${f.count > 1 ? ` (and ${f.count - 1} more logged step${f.count > 2 ? 's' : ''} to ${f.lastStep})` : ''}</b>: ${esc(f.message)} <span class="muted">[health.${f.check}]</span></li>`);
  return `<h3 class="flag">Training health</h3><ul class="health">${items.join('')}</ul>`;
}

export function buildReport(plan: Plan, storeDir: string): string {
  const store = new ArtifactStore(storeDir);
  const parts: string[] = [];
  parts.push(`<h1>rlhfc run report — ${esc(plan.spec)}</h1>`);
  parts.push(`<p class="muted">seed ${plan.seed} · compiler ${esc(plan.compiler)} · ${plan.nodes.filter((n) => n.category === 'stage').length} stages</p>`);
  parts.push(`<h2>Plan</h2>${planGraph(plan)}`);
  const summary: string[] = [];
  for (const node of plan.nodes.filter((n) => n.category === 'stage')) {
    const rec = store.record(node.hash);
    if (!rec) {
      const ck = store.checkpointInfo(node.hash);
      const state = ck ? `interrupted: checkpoint at step ${ck.step}, resumed by the next \`rlhfc run\`` : 'not run yet';
      parts.push(`<section class="stage" data-stage="${esc(node.name)}"><h2>${esc(node.name)} <span class="muted">(${esc(node.kind)})</span></h2><p class="muted">${esc(state)} (hash ${node.hash.slice(0, 12)})</p></section>`);
      summary.push(`<tr><td>${esc(node.name)}</td><td>${esc(node.kind)}</td><td>${ck ? 'interrupted' : 'not run'}</td><td></td><td></td></tr>`);
      continue;
    }
    const dir = store.nodeDir(node.hash);
    const rows = readMetrics(dir);
    const numericKeys = new Set<string>();
    for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'step') numericKeys.add(k);
    const charts = [...numericKeys].map((k) => {
      const withK = rows.filter((r) => typeof r[k] === 'number');
      // Rows naming a model (an evaluation) compare models: bars, not a curve over steps.
      if (withK.length && withK.every((r) => typeof r['model'] === 'string')) return barChart(k, withK.map((r) => [r['model'] as string, r[k] as number]));
      return lineChart(
        k,
        withK.filter((r) => typeof r['step'] === 'number').map((r) => [r['step'] as number, r[k] as number]),
      );
    });
    // Samples at the first and the last logged step: the policy before and after alignment.
    const withSamples = rows.filter((r) => Object.keys(r).some((k) => k.startsWith('sample')));
    const ends = withSamples.length > 1 ? [withSamples[0], withSamples[withSamples.length - 1]] : withSamples;
    const samples = ends.flatMap((r, i) => [
      `${ends.length > 1 ? (i === 0 ? 'before — ' : 'after — ') : ''}step ${r['step']}:`,
      ...Object.entries(r).filter(([k, v]) => k.startsWith('sample') && typeof v === 'string').map(([, v]) => `  ${v}`),
    ]);
    const finals = Object.entries(rec.metrics)
      .filter(([k]) => k !== 'headline')
      .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v))}</td></tr>`);
    const section = [`<section class="stage" data-stage="${esc(node.name)}"><h2>${esc(node.name)} <span class="muted">(${esc(node.kind)}, ${rec.seconds.toFixed(1)} s)</span></h2>`];
    section.push(`<p>${esc(String(rec.metrics['headline'] ?? ''))}</p>`);
    if (finals.length) section.push(`<table>${finals.join('')}</table>`);
    if (node.kind === 'eval') section.push(evalTable(dir));
    section.push(healthList(node, rows));
    section.push(`<div class="charts">${charts.join('')}</div>`);
    if (samples.length) section.push(`<h3>Sample generations</h3><pre class="samples">${esc(samples.join('\n'))}</pre>`);
    parts.push(section.join('\n') + '</section>');
    const thresholds = healthOf(node.params);
    const warned = thresholds ? replay(rows, thresholds).length : 0;
    summary.push(
      `<tr><td>${esc(node.name)}${warned ? ` <span class="flag">(${warned} health warning${warned > 1 ? 's' : ''})</span>` : ''}</td><td>${esc(node.kind)}</td><td>done</td><td>${rec.seconds.toFixed(1)} s</td><td>${esc(String(rec.metrics['headline'] ?? ''))}</td></tr>`,
    );
  }
  parts.splice(3, 0, `<h2>Stages</h2><table><tr><th>stage</th><th>kind</th><th>status</th><th>time</th><th>result</th></tr>${summary.join('')}</table>`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rlhfc report</title><style>${CSS}</style></head><body>${parts.join('\n')}</body></html>\n`;
}
