// The console in a real browser (Debian's Chromium, driven by playwright-core):
// a clerk registers a walk-in at the counter, the village mediator finds it in
// the inbox, accepts it, records a session and the agreement, and the
// party's page shows it completed; a mediator of another organisation cannot
// open it. Screenshots of the main pages go to $SCREENSHOTS when set.
// Run: scripts/browser-tests.sh
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const bin = process.env.FENGQIAO_BIN ?? new URL('../../target/debug/fengqiao', import.meta.url).pathname;
const browserPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const shots = process.env.SCREENSHOTS;
const components = ['gateway', 'intake', 'routing', 'mediation', 'court-linkage', 'petition-linkage', 'console'];

let dir, fengqiao, base, browser;

function env() {
  const e = { ...process.env, FENGQIAO_TELEMETRY__METRICS_LISTEN: '', FENGQIAO_TELEMETRY__LOG_FILTER: 'warn' };
  for (const c of components) e[`FENGQIAO_${c.replace('-', '_').toUpperCase()}__LISTEN`] = '127.0.0.1:0';
  return e;
}

/** Starts standalone fengqiao in a fresh directory; resolves with the console's address. */
function startFengqiao() {
  dir = mkdtempSync(join(tmpdir(), 'fengqiao-browser-'));
  fengqiao = spawn(bin, ['standalone'], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fengqiao did not print the console address within 60 s')), 60_000);
    fengqiao.on('exit', (code) => reject(new Error(`fengqiao exited with ${code}`)));
    createInterface({ input: fengqiao.stdout }).on('line', (line) => {
      const m = line.match(/^\s+console\s+(\S+)$/);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
  });
}

function password(username) {
  const line = readFileSync(join(dir, 'fengqiao-data', 'console-accounts.txt'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${username} `));
  assert.ok(line, `demo account ${username}`);
  return line.split(' ')[1];
}

async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** A fresh browser context (its own cookies), signed in as `username`. */
async function signedIn(username, secret = password(username), viewport = { width: 1100, height: 800 }) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel('用户名', { exact: true }).fill(username);
  await page.getByLabel('密码', { exact: true }).fill(secret);
  await page.getByRole('button', { name: '登录', exact: true }).click();
  await page.waitForURL(`${base}/inbox`);
  return page;
}

before(async () => {
  base = await startFengqiao();
  browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  fengqiao?.kill('SIGTERM');
});

test('a walk-in goes from the counter to an agreement and the party sees it completed', async () => {
  // The counter, on a phone-sized screen.
  const clerk = await signedIn('village-clerk', undefined, { width: 390, height: 844 });
  await clerk.getByRole('link', { name: '登记纠纷' }).click();
  // The phone's position, through the page's one script and the browser's location service.
  await clerk.context().grantPermissions(['geolocation'], { origin: base });
  await clerk.context().setGeolocation({ latitude: 35.5428, longitude: 106.6654, accuracy: 15 });
  await clerk.getByRole('button', { name: '使用手机定位', exact: true }).click();
  await clerk.locator('#locate-status', { hasText: '已取得手机定位' }).waitFor();
  assert.equal(await clerk.getByLabel('纬度（北纬为正）', { exact: true }).inputValue(), '35.542800');
  await shot(clerk, 'register');
  await clerk.getByLabel('纠纷类型', { exact: true }).selectOption('1');
  await clerk.getByLabel('纠纷简要情况', { exact: true }).fill('邻里因排水沟堵塞发生争执');
  await clerk.getByLabel('申请人姓名', { exact: true }).fill('张三');
  await clerk.getByLabel('申请人电话', { exact: true }).fill('13800138000');
  await clerk.getByLabel('被申请人姓名', { exact: true }).fill('李四');
  await clerk.getByRole('button', { name: '登记纠纷', exact: true }).click();
  const caseNo = (await clerk.locator('#case_no').textContent()).trim();
  const code = (await clerk.locator('#code').textContent()).trim();
  assert.match(caseNo, /^620802-\d{4}-\d{6}$/);
  assert.equal((await clerk.locator('#point').textContent()).trim(), '北纬 35.54280°, 东经 106.66540° ±15 m (手机定位)');
  await shot(clerk, 'receipt');

  // The village committee's inbox, with the keyboard alone: Tab to the case's link, Enter.
  const mediator = await signedIn('village-mediator');
  let row;
  for (let i = 0; i < 50; i++) {
    row = mediator.locator('tr', { hasText: caseNo });
    if (await row.count()) break;
    await mediator.waitForTimeout(200);
    await mediator.reload();
  }
  assert.equal(await row.count(), 1, `${caseNo} in the village inbox`);
  await shot(mediator, 'inbox');
  await row.getByRole('link').focus();
  await mediator.keyboard.press('Enter');
  await mediator.locator('#point', { hasText: '手机定位' }).waitFor();
  await mediator.waitForURL(/\/referrals\//);
  const referralUrl = mediator.url();
  await shot(mediator, 'referral');
  await mediator.getByRole('button', { name: '受理', exact: true }).click();
  assert.equal(await mediator.locator('#state').getAttribute('data-state'), '3');
  await mediator.getByRole('button', { name: '开始调解', exact: true }).click();
  await mediator.getByLabel('调解地点', { exact: true }).fill('东关村调解室');
  await mediator.getByLabel('调解笔录', { exact: true }).fill('双方陈述，同意疏通排水沟');
  await mediator.getByRole('button', { name: '记录本次调解', exact: true }).click();
  assert.match(await mediator.locator('#sessions').textContent(), /双方陈述，同意疏通排水沟/);
  await mediator.getByLabel('情况说明', { exact: true }).fill('疏通排水沟，费用平摊');
  await mediator.getByLabel('协议内容（每行一条）', { exact: true }).fill('双方平摊疏通费用\n李四负责日后清理');
  await mediator.getByLabel('涉及金额（元）', { exact: true }).fill('300');
  const deadline = new Date(Date.now() + 30 * 86400_000).toISOString().slice(0, 10);
  await mediator.getByLabel('履行期限', { exact: true }).fill(deadline);
  await mediator.getByRole('button', { name: '办结', exact: true }).click();
  assert.equal(await mediator.locator('#state').getAttribute('data-state'), '7');
  await shot(mediator, 'concluded');

  // Another organisation's mediator cannot open it.
  const other = execFileSync(bin, ['accounts', 'add', 'zhao.township', '--role', 'mediator', '--org', 'township-620802001'], {
    cwd: dir,
    env: env(),
  }).toString().trim();
  const stranger = await signedIn('zhao.township', other);
  const answer = await stranger.goto(referralUrl);
  assert.equal(answer.status(), 404);
  assert.match(await stranger.locator('[role=alert]').textContent(), /找不到这个案件/);

  // The party, with the receipt's number and code.
  const party = await (await browser.newContext({ locale: 'zh-CN' })).newPage();
  await party.goto(`${base}/progress`);
  await party.getByLabel('案件编号', { exact: true }).fill(caseNo);
  await party.getByLabel('查询码', { exact: true }).fill(code);
  await party.getByRole('button', { name: '查询', exact: true }).click();
  assert.equal(await party.locator('#state').getAttribute('data-state'), '7');
  assert.match(await party.locator('#progress').textContent(), /已办结/);
  assert.doesNotMatch(await party.content(), /张三|13800138000/);
  await shot(party, 'progress');

  // The county's supervisor sees the agreement counted on the figures dashboard.
  const supervisor = await signedIn('county-supervisor');
  await supervisor.getByRole('link', { name: '统计看板', exact: true }).click();
  for (let i = 0; i < 50 && (await supervisor.locator('#agreements').textContent()).trim() !== '1'; i++) {
    await supervisor.waitForTimeout(200);
    await supervisor.reload();
  }
  assert.equal((await supervisor.locator('#agreements').textContent()).trim(), '1');
  await shot(supervisor, 'dashboard');
  await supervisor.getByRole('link', { name: '预警督办', exact: true }).click();
  await shot(supervisor, 'alarms');

  // English on request.
  await party.goto(`${base}/progress?lang=en`);
  assert.match(await party.locator('h1').textContent(), /Case progress/);
});
