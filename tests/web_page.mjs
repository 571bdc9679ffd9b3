// The page in a real browser: Debian's chromium driven by playwright-core
// (tests/node_modules, nothing downloaded). It loads filmeto-serve's page
// at URL, uploads STORYBOARD through the form, watches the bars, waits for
// the film, and writes what it saw as JSON to stdout for web_page.bats'
// checks; a screenshot goes to SHOT. A page error or a refused request
// (a CSP violation says so on the console) fails the run. With KEY in the
// environment the page is given it through its key field first, and
// every request the page makes is recorded (seen.urls) to show the key is
// in none.
//
//   [KEY=KEY] node web_page.mjs URL STORYBOARD SHOT [BAD_STORYBOARD]
import {chromium} from 'playwright-core';

const [url, storyboard, shot, bad] = process.argv.slice(2);
const TIMEOUT = 60000; /* the film, on a loaded two-core machine */

const browser = await chromium.launch({executablePath: '/usr/bin/chromium', headless: true});
const seen = {errors: [], bars: {}, moved: false};
try {
  const page = await browser.newPage({viewport: {width: 390, height: 844}});
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => seen.errors.push('page: ' + e.message));
  // The page's own 401 (before a key) and 422 (the bad storyboard) are expected.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|422)/.test(m.text()))
      seen.errors.push('console: ' + m.text());
  });
  // Every value each bar shows, from the first change on: a bar that moved has two.
  await page.addInitScript(() => {
    window.__bars = {};
    new MutationObserver((records) => {
      for (const r of records) {
        const el = r.target;
        if (el.tagName !== 'PROGRESS') continue;
        const li = el.closest('li');
        if (!li) continue;
        const id = li.dataset.id;
        const v = (window.__bars[id] = window.__bars[id] || []);
        if (v[v.length - 1] !== el.value) v.push(el.value);
      }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ['value']});
  });
  seen.urls = [];
  page.on('request', (r) => seen.urls.push(r.url()));
  const res = await page.goto(url);
  seen.status = res.status();
  seen.csp = res.headers()['content-security-policy'] || '';
  if (process.env.KEY) {
    await page.waitForSelector('#key-section:not([hidden])');
    seen.emptyBeforeKey = await page.textContent('#queue-empty');
    await page.fill('#key', process.env.KEY);
    await page.click('#key-form button');
  }
  await page.waitForSelector('#server:text("connected")');

  if (bad) {
    await page.setInputFiles('#storyboard-file', bad);
    await page.waitForFunction(() => document.getElementById('storyboard').value.length > 0);
    await page.click('#submit');
    await page.waitForSelector('#problems:not([hidden]) li');
    seen.problems = await page.$$eval('#problems li', (lis) =>
      lis.map((li) => ({scene: li.dataset.scene, field: li.dataset.field, text: li.textContent})));
    seen.problemHeads = await page.$$eval('#problems h3', (hs) => hs.map((h) => h.textContent));
  }

  await page.setInputFiles('#storyboard-file', storyboard);
  await page.waitForFunction(() => document.getElementById('storyboard').value.includes('scenes'));
  await page.click('#submit');
  await page.waitForSelector('#film-result:text("Queued")');
  seen.result = await page.textContent('#film-result');
  seen.film = await page.textContent('#film-id');

  // The film plays: its element reports a duration once its metadata is in.
  await page.waitForSelector('#film-video:not([hidden])');
  seen.duration = await page.$eval('#film-video', (v) => new Promise((ok, fail) => {
    if (v.readyState >= 1) return ok(v.duration);
    v.addEventListener('loadedmetadata', () => ok(v.duration), {once: true});
    v.addEventListener('error', () => fail(new Error('the video did not load')), {once: true});
  }));
  await page.waitForSelector('#contact:not([hidden])');
  await page.waitForFunction(() => {
    const img = document.getElementById('contact-img');
    return img.complete && img.naturalWidth > 0;
  });
  seen.contactWidth = await page.$eval('#contact-img', (img) => img.naturalWidth);
  seen.videoSrc = await page.$eval('#film-video', (v) => v.src);
  seen.files = await page.$$eval('#film-files a', (as) =>
    as.map((a) => ({href: a.getAttribute('href'), text: a.textContent})));
  seen.bars = await page.evaluate(() => window.__bars);
  seen.moved = Object.values(seen.bars).some((v) => v.some((x) => x > 0 && x < 100));
  seen.rows = await page.$$eval('#queue li', (lis) => lis.length);
  seen.done = await page.$$eval('#queue li.done', (lis) => lis.length);
  seen.filmDone = await page.$eval('#queue li[data-id="' + seen.film + '"] progress',
                                   (p) => p.value);
  // The page at a phone's width, the film's first frame shown.
  await page.$eval('#film-video', (v) => new Promise((ok) => {
    if (v.readyState >= 2) return ok();
    v.addEventListener('loadeddata', ok, {once: true});
  }));
  await page.screenshot({path: shot, fullPage: true});
  // Light or dark as the system asks.
  const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({colorScheme: 'light'});
  seen.light = await bg();
  await page.emulateMedia({colorScheme: 'dark'});
  seen.dark = await bg();
} catch (e) {
  seen.errors.push('test: ' + e.message);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(seen) + '\n');
process.exit(seen.errors.length ? 1 : 0);
