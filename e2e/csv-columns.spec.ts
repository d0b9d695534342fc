/**
 * A labels CSV whose columns Attune does not recognise by name, through the real handlers and engine worker: the
 * scan says so, the user chooses the columns on the Data screen, and the scan, a run and a method race use them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { call, projectWithTinyModel, raceSpec, trainLinear } from './handler-harness';
import { NO_CHROMIUM, aidFolder, appInBrowser, findChromium, shot, newProject } from './helpers';

/** A German radiology department's table: image, finding, patient, with names no list of column names holds. */
async function germanCsv(data: string): Promise<string> {
  const finding: Record<string, string> = { Beach: 'Sand', Forest: 'Wald', Parking: 'Parkplatz' };
  const rows = ['Bild,Befund,Patient'];
  for (const c of Object.keys(finding))
    for (const [i, f] of (await readdir(join(data, c))).sort().entries())
      rows.push(`${c}/${f},${finding[c]},P${c}${i % 3}`);
  const csv = join(data, 'befunde.csv');
  await writeFile(csv, rows.join('\n') + '\n');
  return csv;
}

describe('Labels CSV with columns of its own names (Data screen: "Columns of the CSV")', () => {
  it(
    'refuses to guess, takes the user’s columns, and every scan, run and race uses them',
    { timeout: 180_000 },
    async () => {
      const { ctx, events, project: p } = await projectWithTinyModel('CSV', 6, germanCsv);
      const cols = await call(ctx, 'data:csvColumns', { projectId: p.id });
      // only the patient column's name is a known one
      assert.deepEqual(cols, { header: ['Bild', 'Befund', 'Patient'], detected: { group: 'Patient' }, chosen: null });
      // not recognised: the scan names the columns and says where to choose them
      await assert.rejects(call(ctx, 'data:scan', { projectId: p.id }), (e: Error & { hint?: string }) => {
        assert.match(e.message, /Cannot tell which columns .* \(columns: Bild, Befund, Patient\)/);
        assert.match(e.hint!, /Data screen/);
        return true;
      });
      // bad choices are refused, naming what is wrong; nothing is saved
      await assert.rejects(
        call(ctx, 'data:setColumns', { projectId: p.id, columns: { path: 'Bild', label: 'Diagnose' } }),
        (e: Error & { hint?: string }) =>
          /no column "Diagnose"/.test(e.message) && /Bild, Befund, Patient/.test(e.hint ?? ''),
      );
      await assert.rejects(
        call(ctx, 'data:setColumns', { projectId: p.id, columns: { path: 'Bild', label: 'Bild' } }),
        /three different columns/,
      );
      await assert.rejects(call(ctx, 'data:setColumns', { projectId: p.id, columns: { path: 'Bild' } } as never));
      assert.equal((await call(ctx, 'projects:get', { id: p.id })).data!.columns, undefined);

      const chosen = { path: 'Bild', label: 'Befund', group: 'Patient' };
      const q = await call(ctx, 'data:setColumns', { projectId: p.id, columns: chosen });
      assert.deepEqual(q.data!.columns, chosen);
      assert.equal((await call(ctx, 'data:csvColumns', { projectId: p.id })).chosen!.label, 'Befund');
      const scan = await call(ctx, 'data:scan', { projectId: p.id });
      assert.deepEqual(scan.classes.map((c) => c.name).sort(), ['Parkplatz', 'Sand', 'Wald']);
      assert.equal(scan.total, 18);
      assert.equal(scan.groups, 9, 'patients from the group column');

      // a run reads the same columns, and so does a method race
      const { spec } = await trainLinear<{ data: { columns: unknown }; classes: string[] }>(ctx, events, p.id);
      assert.deepEqual(spec.data.columns, chosen);
      assert.deepEqual(spec.classes, ['Parkplatz', 'Sand', 'Wald']);
      assert.deepEqual((await raceSpec<{ columns: unknown }>(ctx, events, p.id)).columns, chosen);

      // back to recognition by name: the choice is gone, and the scan again says what to do
      const r = await call(ctx, 'data:setColumns', { projectId: p.id, columns: null });
      assert.equal(r.data!.columns, undefined);
      await assert.rejects(call(ctx, 'data:scan', { projectId: p.id }), /Cannot tell which columns/);
      ctx.jobs.dispose();
    },
  );
});

describe('Choosing the CSV’s columns in the browser', { skip: findChromium() ? false : NO_CHROMIUM }, () => {
  let page: Page;
  appInBrowser((s) => ({ page } = s));

  it(
    'shows the columns, says it cannot tell which hold the image and label, and scans once they are chosen',
    { timeout: 120_000 },
    async () => {
      const csv = await germanCsv(await aidFolder(4));
      await newProject(page, 'Befunde', { csv });
      const card = page.getByTestId('csv-columns');
      await card.waitFor();
      await page
        .getByTestId('error-banner')
        .getByText(/Cannot tell which columns/)
        .waitFor();
      await card.getByText('Attune could not tell which columns hold the image and its label').waitFor();
      // the one column whose name is a known one is already chosen
      assert.equal(await page.getByTestId('column-group').inputValue(), 'Patient');
      assert.equal(await page.getByTestId('use-columns').isDisabled(), true);
      await page.getByTestId('column-path').selectOption('Bild');
      await page.getByTestId('column-label').selectOption('Befund');
      await shot(page, 'csv-01-columns');
      await page.getByTestId('use-columns').click();
      await page.getByTestId('scan-report').waitFor({ timeout: 60_000 });
      assert.equal(await page.getByTestId('scan-total').textContent(), '12');
      assert.match((await page.getByTestId('class-row').allTextContents()).join(' '), /Parkplatz[^]*Sand[^]*Wald/);
      await card.getByText('Your choice.').waitFor();
      await shot(page, 'csv-02-scanned');
    },
  );
});
