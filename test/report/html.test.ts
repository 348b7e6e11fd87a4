/**
 * The HTML report for a pruned ResNet-20 against its original, opened in headless Chromium
 * (Debian `chromium`, driven by playwright-core): no console errors, no network requests,
 * the charts and the validation numbers are there, and a screenshot is not blank.
 * SCULPT_UPDATE_SCREENSHOT=1 also writes the screenshot to docs/report.png (the README's).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  chartEntries,
  decodeModel,
  diffModels,
  encodeModel,
  escapeHtml,
  loadDataset,
  pruneModel,
  renderDiffHtml,
  saveModel,
  validateModel,
} from '../../src/index.js';
import { buildModel } from '../../models/index.js';
import { ROOT, runCli, tempDir } from '../helpers.js';
import { colourStats, decodePng } from './png.js';

const CHROMIUM = process.env.SCULPT_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const dir = tempDir('sculpt-html-');

test('escapeHtml escapes markup in model names', () => {
  assert.equal(escapeHtml(`<script>"a"&'b'</script>`), '&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;');
});

test('the diff page of a pruned ResNet-20 opens in headless Chromium: no console errors, no requests, not blank', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
    return;
  }
  const original = buildModel('resnet20', { seed: 1 });
  const pruned = decodeModel(encodeModel(original));
  pruneModel(pruned, { flopsTarget: 0.5, scope: 'global', criterion: 'l1', roundTo: 8 });
  const a = join(dir, 'resnet20.onnx');
  const b = join(dir, 'resnet20-pruned.onnx');
  saveModel(original, a);
  saveModel(pruned, b);
  const data = loadDataset('mnist', { split: 'test', limit: 200, shape: [3, 32, 32], resize: true });
  const validation = await validateModel(b, {
    data,
    baseline: a,
    latency: true,
    batch: 8,
    latencyOptions: { warmup: 2, minRuns: 5, maxRuns: 30, maxTimeMs: 3000 },
    gates: { maxParams: 1e6 },
  });
  data.close();
  const d = diffModels(original, pruned, { labelA: 'resnet20.onnx', labelB: 'resnet20-pruned.onnx' });
  assert.ok(d.counts.changed > 0);
  const page = join(dir, 'report.html');
  writeFileSync(page, renderDiffHtml(d, { validation }));
  // The CLI writes the same page from the files.
  const vjson = join(dir, 'v.json');
  writeFileSync(vjson, JSON.stringify(validation));
  const cliPage = join(dir, 'cli.html');
  const r = runCli(['diff', a, b, '--format', 'html', '--validation', vjson, '-o', cliPage]);
  assert.equal(r.code, 0, r.stderr);

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    for (const file of [page, cliPage]) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 1400 }, offline: true });
      const tab = await context.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      tab.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
      });
      tab.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      context.on('request', (q) => requests.push(q.url()));
      const url = pathToFileURL(file).href;
      await tab.goto(url, { waitUntil: 'load' });
      assert.deepEqual(errors, []);
      assert.deepEqual(
        requests.filter((u) => u !== url),
        [],
        'the page fetched something',
      );

      // Content: one pair of bars per layer with weights, the validation table, the layer rows.
      const weighted = d.entries.filter((e) => e.before[0]?.op === 'Conv' || e.before[0]?.op === 'Gemm').length;
      assert.equal(weighted, 22); // ResNet-20: 19 3x3 convs, 2 projection shortcuts, the classifier
      assert.equal(chartEntries(d).length, weighted);
      assert.equal(await tab.locator('#channels svg rect').count(), 2 * weighted);
      assert.equal(await tab.locator('#macs svg rect').count(), 2 * weighted);
      assert.match(await tab.locator('#validation').innerText(), new RegExp(`${(validation.model.accuracy!.top1 * 100).toFixed(2)}%`));
      assert.match(await tab.locator('#validation').innerText(), /speed-up/);
      const visible = await tab.locator('#layers tbody tr:visible').count();
      await tab.locator('#show-all').check();
      assert.equal(await tab.locator('#layers tbody tr:visible').count(), d.entries.length);
      assert.ok(visible < d.entries.length);
      await tab.locator('#show-all').uncheck();
      assert.deepEqual(errors, []);
      await tab.evaluate(() => window.scrollTo(0, 0));

      const png = await tab.screenshot({ fullPage: file === page ? false : true });
      const img = decodePng(png);
      const stats = colourStats(img);
      assert.ok(img.width >= 1000 && img.height >= 700, `${img.width}x${img.height}`);
      assert.ok(stats.distinct > 50, `only ${stats.distinct} colours: blank?`);
      assert.ok(stats.nonBackground > 0.05, `only ${(stats.nonBackground * 100).toFixed(1)}% of pixels differ from the background`);
      if (file === page && process.env.SCULPT_UPDATE_SCREENSHOT) writeFileSync(join(ROOT, 'docs/report.png'), png);
      await context.close();
    }
  } finally {
    await browser.close();
  }
});
