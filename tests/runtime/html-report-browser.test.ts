// The HTML report of a real tiny run (tests/fixtures/report.rlhf: pretrain → LoRA SFT → PPO →
// eval on real data), opened in headless Chromium (Debian's `chromium`, driven by playwright-core):
// no console errors, every metric chart draws its data inside its axes with labels that bracket
// it (a constant series shows its value), the plan graph shows every node and edge without
// overlaps, and the sample generations are visible.
// Without Chromium the browser part is skipped with one line, unless CI=true or
// RLHFC_REQUIRE_BROWSER=1 (then it fails).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/compile.ts';
import type { Plan } from '../../core/plan-types.ts';
import { barChart, lineChart } from '../../runtime/html-report.ts';
import { ArtifactStore } from '../../runtime/store.ts';

const CHROMIUM = process.env.RLHFC_CHROMIUM ?? '/usr/bin/chromium';
const required = process.env.CI === 'true' || process.env.RLHFC_REQUIRE_BROWSER === '1';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && !required) console.log(`report-browser: SKIPPED — no Chromium at ${CHROMIUM} (apt-get install chromium; CI=true or RLHFC_REQUIRE_BROWSER=1 makes this a failure)`);

const FIXTURE = 'tests/fixtures/report.rlhf';

describe('report charts (SVG, no browser)', () => {
  it('a constant series shows its value instead of a bare −1…1 axis', () => {
    const svg = lineChart('lr', [
      [2, 1e-3],
      [4, 1e-3],
      [6, 1e-3],
    ]);
    expect(svg).toContain('>lr = 1e-3 (constant)</text>');
    const labels = [...svg.matchAll(/class="l y[01]"[^>]*>([^<]+)</g)].map((m) => Number(m[1]));
    expect(Math.min(...labels)).toBeLessThan(1e-3);
    expect(Math.max(...labels)).toBeGreaterThan(1e-3);
    expect(Math.max(...labels)).toBeLessThan(0.01); // on the value's own scale
  });
  it('axis labels differ when the values are close, and a bar chart labels each bar', () => {
    const svg = lineChart('beta', [
      [1, 0.2],
      [4, 0.19992],
    ]);
    const [lo, hi] = [...svg.matchAll(/class="l y([01])"[^>]*>([^<]+)</g)].sort().map((m) => m[2]);
    expect(lo).not.toBe(hi);
    expect(Number(lo)).toBeLessThanOrEqual(0.19992);
    expect(Number(hi)).toBeGreaterThanOrEqual(0.2);
    const bars = barChart('kl', [
      ['chat.model', 0],
      ['tune.model', 0.2818],
    ]);
    expect(bars.match(/<rect /g)?.length).toBe(2);
    expect(bars).toContain('>0.2818<');
    expect(bars).toContain('>tune.model<');
  });
});

describe.skipIf(!haveBrowser && !required)('report in a real browser', () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'rlhfc-report-'));
  let plan: Plan;
  type Browser = import('playwright-core').Browser;
  type Page = import('playwright-core').Page;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    const run = spawnSync(process.execPath, ['bin/rlhfc.mjs', 'run', FIXTURE, '--store', storeDir], { encoding: 'utf8', timeout: 600_000 });
    expect(run.status, run.stderr).toBe(0);
    plan = compileFile(FIXTURE).plan!;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && problems.push(`console ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(`file://${join(storeDir, 'report.html')}`);
    const shot = join(tmpdir(), 'rlhfc-report-screenshot.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report-browser: screenshot of the report in ${shot}`);
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(storeDir, { recursive: true, force: true });
  });

  /** Rows of a stage's metrics.jsonl, read from the store (not from the page). */
  const metricsOf = (hash: string) =>
    readFileSync(join(new ArtifactStore(storeDir).nodeDir(hash), 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>);

  it('loads without console errors or failed requests', () => {
    expect(problems).toEqual([]);
  });

  it('draws every metric of every stage: marks inside the axes, labels bracketing the data, constant series with their value', async () => {
    const stages = plan.nodes.filter((n) => n.category === 'stage');
    expect(stages.map((s) => s.kind)).toEqual(['pretrain', 'sft', 'ppo', 'eval']);
    let charts = 0;
    for (const s of stages) {
      const rows = metricsOf(s.hash);
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r).filter((k) => k !== 'step' && typeof r[k] === 'number')))].sort();
      const section = page.locator(`section.stage[data-stage="${s.name}"]`);
      const drawn = await section.locator('svg.chart').evaluateAll((svgs) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const marks = [...svg.querySelectorAll('path.p, circle.p, rect.b')].map((m) => (m as SVGGraphicsElement).getBBox());
          const label = (c: string) => Number(svg.querySelector(`text.${c}`)?.textContent);
          return {
            metric: svg.getAttribute('data-metric')!,
            title: svg.querySelector('text.t')?.textContent ?? '',
            visible: box.width > 0 && box.height > 0,
            marks: marks.map((b) => ({ x: b.x, y: b.y, w: b.width, h: b.height })),
            y0: label('y0'),
            y1: label('y1'),
            W: (svg as SVGSVGElement).viewBox.baseVal.width,
            H: (svg as SVGSVGElement).viewBox.baseVal.height,
          };
        }),
      );
      expect(drawn.map((d) => d.metric).sort(), s.name).toEqual(keys);
      for (const d of drawn) {
        const what = `${s.name}.${d.metric}`;
        const values = rows.filter((r) => typeof r[d.metric] === 'number').map((r) => r[d.metric] as number);
        expect(d.visible, what).toBe(true);
        expect(d.marks.length, `${what} draws something`).toBeGreaterThan(0);
        for (const m of d.marks) {
          expect(m.x, what).toBeGreaterThanOrEqual(0);
          expect(m.y, what).toBeGreaterThanOrEqual(0);
          expect(m.x + m.w, what).toBeLessThanOrEqual(d.W);
          expect(m.y + m.h, what).toBeLessThanOrEqual(d.H);
        }
        // The axis labels bracket the data (up to their rounding).
        const tol = (v: number) => Math.abs(v) * 0.01 + 1e-9;
        expect(d.y0, what).toBeLessThanOrEqual(Math.min(...values) + tol(Math.min(...values)));
        expect(d.y1, what).toBeGreaterThanOrEqual(Math.max(...values) - tol(Math.max(...values)));
        if (values.length > 1 && new Set(values).size === 1 && s.kind !== 'eval') expect(d.title, what).toMatch(new RegExp(`^${d.metric} = [-0-9.e]+ \\(constant\\)$`));
        charts++;
      }
    }
    // SFT's learning rate is constant (no schedule): its value is shown.
    const lr = await page.locator('section.stage[data-stage="chat"] svg.chart[data-metric="lr"] text.t').textContent();
    expect(lr).toBe('lr = 1e-3 (constant)');
    expect(charts).toBeGreaterThan(20);
  });

  it('shows every plan node (name inside its box, no overlaps) and every edge', async () => {
    const graph = page.locator('svg[aria-label="plan graph"]');
    await expect(graph.isVisible()).resolves.toBe(true);
    const nodes = await graph.locator('g.node').evaluateAll((gs) =>
      gs.map((g) => {
        const r = (g.querySelector('rect') as SVGGraphicsElement).getBBox();
        const texts = [...g.querySelectorAll('text')].map((t) => ({ s: t.textContent, b: (t as SVGGraphicsElement).getBBox() }));
        return { id: g.getAttribute('data-id'), r: { x: r.x, y: r.y, w: r.width, h: r.height }, texts: texts.map((t) => ({ s: t.s, x: t.b.x, y: t.b.y, w: t.b.width, h: t.b.height })) };
      }),
    );
    expect(nodes.map((n) => n.id).sort()).toEqual(plan.nodes.map((n) => n.id).sort());
    for (const n of nodes) {
      const p = plan.nodes.find((x) => x.id === n.id)!;
      expect(n.texts[0].s).toBe(p.name);
      for (const t of n.texts) {
        expect(t.x, `${p.name}: '${t.s}' fits its box`).toBeGreaterThanOrEqual(n.r.x);
        expect(t.x + t.w, `${p.name}: '${t.s}' fits its box`).toBeLessThanOrEqual(n.r.x + n.r.w);
      }
    }
    for (const a of nodes) {
      for (const b of nodes) {
        if (a === b) continue;
        const overlap = a.r.x < b.r.x + b.r.w && b.r.x < a.r.x + a.r.w && a.r.y < b.r.y + b.r.h && b.r.y < a.r.y + a.r.h;
        expect(overlap, `${a.id} overlaps ${b.id}`).toBe(false);
      }
    }
    const edges = await graph.locator('path.e').evaluateAll((ps) => ps.map((p) => `${p.getAttribute('data-from')}→${p.getAttribute('data-to')}`));
    const want = new Set(plan.nodes.flatMap((n) => Object.values(n.inputs).map((b) => `${b.node}→${n.id}`)));
    expect(edges.sort()).toEqual([...want].sort());
  });

  it("shows the eval stage's degeneration table: one row per model with report.json's numbers, flags beside samples", async () => {
    const s = plan.nodes.find((n) => n.kind === 'eval')!;
    const report = JSON.parse(readFileSync(join(new ArtifactStore(storeDir).nodeDir(s.hash), 'report', 'report.json'), 'utf8')) as {
      accuracy?: boolean;
      results: { model: string; mean_score: number; stderr: number; kl?: number; length_corr: number | null; degeneration: { words: { mean: number; p10: number; p50: number; p90: number }; tokens: { mean: number }; empty_rate: number; distinct_1: number; distinct_2: number; repetition_2: number }; flags?: string[]; samples: { response: string }[] }[];
    };
    const section = page.locator(`section.stage[data-stage="${s.name}"]`);
    const table = section.locator('table.eval');
    await table.scrollIntoViewIfNeeded();
    await expect(table.isVisible()).resolves.toBe(true);
    const head = await table.locator('tr').first().locator('th').allTextContents();
    // a judge whose every score is 0 or 1 reads as accuracy (report.json says which)
    expect(head).toEqual(['model', report.accuracy ? 'accuracy (0/1 judge)' : 'score', 'KL', 'words: mean (p10 / p50 / p90)', 'tokens', 'empty', 'distinct-1', 'distinct-2', 'repetition', 'score–length r', '']);
    const rows = await table.locator('tr').evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => ({ text: td.textContent ?? '', flag: td.classList.contains('flag') }))));
    expect(rows.length).toBe(report.results.length);
    expect(report.results.length).toBe(2);
    for (const [i, r] of report.results.entries()) {
      const d = r.degeneration;
      const cells = rows[i].map((c) => c.text);
      expect(cells.slice(0, 9), r.model).toEqual([
        r.model,
        `${r.mean_score.toFixed(3)} ± ${r.stderr.toFixed(3)}`,
        r.kl === undefined ? '—' : r.kl.toFixed(2),
        `${d.words.mean.toFixed(1)} (${d.words.p10.toFixed(0)} / ${d.words.p50.toFixed(0)} / ${d.words.p90.toFixed(0)})`,
        d.tokens.mean.toFixed(1),
        `${(d.empty_rate * 100).toFixed(0)}%`,
        d.distinct_1.toFixed(2),
        d.distinct_2.toFixed(2),
        d.repetition_2.toFixed(2),
      ]);
      // the judge's score against answer length
      expect(cells[9], r.model).toBe(r.length_corr === null ? '—' : r.length_corr.toFixed(2));
      // The last cell carries the flag exactly when the eval flagged the model.
      const flagged = Boolean(r.flags?.length);
      expect(rows[i][10], r.model).toEqual({ text: flagged ? 'possible reward hacking' : '', flag: flagged });
    }
    // The reference (the first model) is never flagged against itself.
    expect(report.results[0].flags ?? []).toEqual([]);
    // Each flagged model: its reasons and its sample generations, visible, next to the table.
    const boxes = section.locator('div.flagged');
    const flaggedModels = report.results.filter((r) => r.flags?.length);
    expect(await boxes.count()).toBe(flaggedModels.length);
    for (const [j, r] of flaggedModels.entries()) {
      const box = boxes.nth(j);
      await expect(box.isVisible()).resolves.toBe(true);
      const text = (await box.textContent())!;
      expect(text).toContain(`${r.model}: possible reward hacking`);
      for (const why of r.flags!) expect(text).toContain(why);
      for (const x of r.samples) expect(text).toContain(JSON.stringify(x.response));
    }
  });

  it('shows the sample generations of the generating stages, before and after', async () => {
    for (const name of ['tune', 'score']) {
      const s = plan.nodes.find((n) => n.name === name)!;
      const samples = metricsOf(s.hash).filter((r) => Object.keys(r).some((k) => k.startsWith('sample')));
      expect(samples.length, name).toBeGreaterThan(1);
      const pre = page.locator(`section.stage[data-stage="${name}"] pre.samples`);
      await pre.scrollIntoViewIfNeeded();
      await expect(pre.isVisible()).resolves.toBe(true);
      const box = await pre.boundingBox();
      expect(box!.height).toBeGreaterThan(40);
      const text = (await pre.textContent())!;
      for (const r of [samples[0], samples[samples.length - 1]]) {
        for (const [k, v] of Object.entries(r)) if (k.startsWith('sample')) expect(text, name).toContain(String(v));
      }
      expect(text).toMatch(/^before — step/);
      expect(text).toContain('after — step');
    }
  });
});
