// `rlhfc report`: one self-contained HTML page (inline SVG, no scripts, no network) with the plan
// graph, per-stage metric curves read from each stage's metrics.jsonl, final metrics, and sample
// generations recorded by the stages.

import { existsSync, readFileSync } from 'node:fs';
import { LIMITS, readTextSync } from './validate/files.ts';
import { MetricsRowSchema } from './validate/schemas.ts';
import { join } from 'node:path';
import type { Plan, PlanNode } from '../compiler/plan-types.ts';
import { ArtifactStore } from './store.ts';

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

/** A small line chart of one metric against `step`. */
export function lineChart(title: string, points: [number, number][], w = 320, h = 160): string {
  const pad = 34;
  if (points.length === 0) return '';
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad + ((x - x0) / Math.max(x1 - x0, 1e-12)) * (w - pad - 8);
  const sy = (y: number) => h - 20 - ((y - y0) / (y1 - y0)) * (h - 40);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join('');
  const fmt = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : v.toFixed(2));
  return `<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">
<text x="${pad}" y="12" class="t">${esc(title)}</text>
<line x1="${pad}" y1="${h - 20}" x2="${w - 8}" y2="${h - 20}" class="ax"/><line x1="${pad}" y1="20" x2="${pad}" y2="${h - 20}" class="ax"/>
<text x="2" y="24" class="l">${fmt(y1)}</text><text x="2" y="${h - 22}" class="l">${fmt(y0)}</text>
<text x="${pad}" y="${h - 6}" class="l">${x0}</text><text x="${w - 8}" y="${h - 6}" class="l" text-anchor="end">step ${x1}</text>
<path d="${d}" class="p"/>${points.length === 1 ? `<circle cx="${sx(points[0][0])}" cy="${sy(points[0][1])}" r="3" class="p"/>` : ''}
</svg>`;
}

/** Layered drawing of the plan's DAG (stages and their sources). */
export function planGraph(plan: Plan): string {
  const level = new Map<string, number>();
  for (const n of plan.nodes) {
    const deps = Object.values(n.inputs).map((b) => level.get(b.node) ?? 0);
    level.set(n.id, deps.length ? Math.max(...deps) + 1 : 0);
  }
  const cols = new Map<number, PlanNode[]>();
  for (const n of plan.nodes) {
    const l = level.get(n.id)!;
    cols.set(l, [...(cols.get(l) ?? []), n]);
  }
  const bw = 150;
  const bh = 34;
  const gx = 50;
  const gy = 14;
  const pos = new Map<string, [number, number]>();
  for (const [l, ns] of cols) ns.forEach((n, i) => pos.set(n.id, [10 + l * (bw + gx), 10 + i * (bh + gy)]));
  const W = 20 + cols.size * (bw + gx);
  const H = 20 + Math.max(...[...cols.values()].map((c) => c.length)) * (bh + gy);
  const edges = plan.nodes.flatMap((n) =>
    Object.values(n.inputs).map((b) => {
      const [x1, y1] = pos.get(b.node)!;
      const [x2, y2] = pos.get(n.id)!;
      return `<path d="M${x1 + bw},${y1 + bh / 2} C${x1 + bw + gx / 2},${y1 + bh / 2} ${x2 - gx / 2},${y2 + bh / 2} ${x2},${y2 + bh / 2}" class="e"/>`;
    }),
  );
  const boxes = plan.nodes.map((n) => {
    const [x, y] = pos.get(n.id)!;
    return `<g><rect x="${x}" y="${y}" width="${bw}" height="${bh}" rx="5" class="n ${n.category}"/><text x="${x + 8}" y="${y + 14}" class="nn">${esc(n.name)}</text><text x="${x + 8}" y="${y + 27}" class="nk">${esc(n.category === 'stage' ? n.kind : `${n.category} ${n.kind}`)}</text></g>`;
  });
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="plan graph">${edges.join('')}${boxes.join('')}</svg>`;
}

const CSS = `body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.chart{margin:4px 8px 4px 0;border:1px solid #eee}.t{font-size:12px;font-weight:600}.l{font-size:10px;fill:#666}
.ax{stroke:#999}.p{stroke:#2563eb;fill:none;stroke-width:1.6}circle.p{fill:#2563eb}
.e{stroke:#999;fill:none}.n{fill:#f8fafc;stroke:#64748b}.n.stage{fill:#dbeafe;stroke:#2563eb}.nn{font-size:12px;font-weight:600}.nk{font-size:10px;fill:#555}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:12px}.muted{color:#777}`;

/** Build the report page for the plan's stages from the store. */
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
      parts.push(`<h2>${esc(node.name)} <span class="muted">(${esc(node.kind)})</span></h2><p class="muted">${esc(state)} (hash ${node.hash.slice(0, 12)})</p>`);
      summary.push(`<tr><td>${esc(node.name)}</td><td>${esc(node.kind)}</td><td>${ck ? 'interrupted' : 'not run'}</td><td></td><td></td></tr>`);
      continue;
    }
    const dir = store.nodeDir(node.hash);
    const rows = readMetrics(dir);
    const numericKeys = new Set<string>();
    for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'step') numericKeys.add(k);
    const charts = [...numericKeys].map((k) =>
      lineChart(
        k,
        rows.filter((r) => typeof r[k] === 'number' && typeof r['step'] === 'number').map((r) => [r['step'] as number, r[k] as number]),
      ),
    );
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
    parts.push(`<h2>${esc(node.name)} <span class="muted">(${esc(node.kind)}, ${rec.seconds.toFixed(1)} s)</span></h2>`);
    parts.push(`<p>${esc(String(rec.metrics['headline'] ?? ''))}</p>`);
    if (finals.length) parts.push(`<table>${finals.join('')}</table>`);
    parts.push(charts.join(''));
    if (samples.length) parts.push(`<h3>Sample generations</h3><pre>${esc(samples.join('\n'))}</pre>`);
    summary.push(
      `<tr><td>${esc(node.name)}</td><td>${esc(node.kind)}</td><td>done</td><td>${rec.seconds.toFixed(1)} s</td><td>${esc(String(rec.metrics['headline'] ?? ''))}</td></tr>`,
    );
  }
  parts.splice(3, 0, `<h2>Stages</h2><table><tr><th>stage</th><th>kind</th><th>status</th><th>time</th><th>result</th></tr>${summary.join('')}</table>`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rlhfc report</title><style>${CSS}</style></head><body>${parts.join('\n')}</body></html>\n`;
}
