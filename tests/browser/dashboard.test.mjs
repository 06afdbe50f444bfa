// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium),
// driven by playwright-core: the daemon under test is started here on a free
// loopback port, jobs are seeded through the API, and the checks are what a
// person would do. Screenshots of every page go to $PIXELMILL_SCREENSHOTS.
//
//   node dashboard.test.mjs [path/to/pixelmill]
//
// Environment: PIXELMILL_BINARY, PIXELMILL_PLUGIN_DIR (the real plugins),
// PIXELMILL_FIXTURE_DIR (fixture plugins: slow, flaky), PIXELMILL_SCREENSHOTS,
// CHROMIUM (default /usr/bin/chromium). Exits non-zero on the first failure.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makePdf, makePng } from "./images.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const binary = process.argv[2] || process.env.PIXELMILL_BINARY || path.join(repo, "build/bin/pixelmill");
const pluginDir = process.env.PIXELMILL_PLUGIN_DIR || path.join(path.dirname(binary), "../plugins");
const fixtureDir = process.env.PIXELMILL_FIXTURE_DIR || path.join(path.dirname(binary), "../test-plugins");
const shots = process.env.PIXELMILL_SCREENSHOTS || path.join(repo, "build/test-output/screenshots");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let step = "start";
const log = (...args) => console.log(`[browser] ${args.join(" ")}`);
function check(condition, message) {
  if (!condition) throw new Error(`${step}: ${message}`);
}

// --- the daemon ------------------------------------------------------------

async function startDaemon(work) {
  const plugins = path.join(work, "plugins");
  fs.mkdirSync(plugins);
  for (const dir of [pluginDir, fixtureDir]) {
    for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".so"))) {
      const name = f.replace(/^fixture_/, "");
      if (["slow.so", "flaky.so", "noop.so"].includes(name) || dir === pluginDir)
        fs.symlinkSync(path.join(dir, f), path.join(plugins, f));
    }
  }
  const child = spawn(binary, ["serve", "--listen", "127.0.0.1:0", "--data-dir", path.join(work, "data"),
    "--plugin-dir", plugins, "--workers", "2", "--drain-timeout", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the daemon did not start:\n${output}`)), 30000);
    const onData = (chunk) => {
      output += chunk;
      const m = /event=listening .*port=(\d+)/.exec(output);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`the daemon exited (${code}):\n${output}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, log: () => output };
}

async function api(base, route, init = {}) {
  const response = await fetch(base + route, init);
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: response.status, body };
}

async function submit(base, plugin, bytes, filename, type, params = {}, wait = 30) {
  const form = new FormData();
  form.append("file", new Blob([bytes], { type }), filename);
  form.append("plugin", plugin);
  for (const [k, v] of Object.entries(params)) form.append(k, String(v));
  const r = await api(base, `/v1/jobs?wait=${wait}`, { method: "POST", body: form });
  if (r.status !== 200 && r.status !== 202) throw new Error(`submit ${plugin}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function waitForState(base, id, states, ms = 30000) {
  const until = Date.now() + ms;
  for (;;) {
    const r = await api(base, `/v1/jobs/${id}`);
    if (states.includes(r.body.state)) return r.body;
    if (Date.now() > until) throw new Error(`job ${id} stayed ${r.body.state}, wanted ${states}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// --- the checks ------------------------------------------------------------

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "pixelmill-browser-"));
  const daemon = await startDaemon(work);
  const { base } = daemon;
  log(`daemon at ${base}, screenshots in ${shots}`);
  let context = null;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "pixelmill-chromium-"));
  try {
    step = "seed";
    const photo = await submit(base, "thumbnail", makePng(480, 320, 1), "sunset.png", "image/png", { size: 256 });
    check(photo.state === "succeeded", `thumbnail job ended ${photo.state}`);
    const ascii = await submit(base, "ascii", makePng(300, 200, 2), "gradient.png", "image/png", { width: 80 });
    const pdf = await submit(base, "pdf2png", makePdf(3), "report.pdf", "application/pdf", { dpi: 36 });
    check(pdf.state === "succeeded" && pdf.outputs.length === 3, `pdf2png gave ${pdf.state}, ${pdf.outputs?.length} pages`);
    const banner = await submit(base, "resize", makePng(640, 400, 3), "banner.png", "image/png", { width: 200 });
    const failed = await submit(base, "flaky", makePng(64, 64, 4), "broken-scan.png", "image/png", { permanent: true });
    check(failed.state === "failed", `flaky job ended ${failed.state}`);
    const evil = "<img src=x onerror=alert(1)>.png";
    await submit(base, "flaky", makePng(40, 40, 5), evil, "image/png", { permanent: true });
    // An SVG whose scripts would reach the API with the dashboard's origin if the
    // browser ever ran them in that origin.
    const hostileSvg = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" ' +
      'onload="alert(\'svg onload ran in \' + document.domain)">' +
      '<script>fetch("/v1/originals?via=svg-script").then(() => alert("svg script ran"))</script>' +
      '<rect width="120" height="80" fill="#c33"/></svg>';
    const svgJob = await submit(base, "thumbnail", hostileSvg, "hostile.svg", "image/svg+xml", { size: 64 });
    check(svgJob.state === "succeeded", `the SVG thumbnail job ended ${svgJob.state}`);

    const upload = new FormData();
    upload.append("file", new Blob([makePng(200, 140, 6)], { type: "image/png" }), "later.png");
    check((await api(base, "/v1/originals", { method: "POST", body: upload })).status === 201, "original upload");
    // Both workers busy for a long time: a retried job stays queued where we can see it.
    for (let i = 0; i < 3; ++i) await submit(base, "slow", makePng(30 + i, 30, 10 + i), `long-${i}.png`, "image/png", { ms: 600000 }, 0);

    step = "browser";
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1360, height: 900 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] || (await context.newPage());
    const problems = [];
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console error on ${page.url()}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`page error on ${page.url()}: ${e.message}`));
    page.on("dialog", (d) => { problems.push(`a dialog opened (script ran): ${d.message()}`); d.dismiss(); });
    const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

    step = "overview";
    let response = await page.goto(`${base}/dashboard`);
    check(response.status() === 200, `GET /dashboard answered ${response.status()}`);
    check((await page.textContent("h1")).includes("Overview"), "the overview has its heading");
    check(await page.locator(".stat.state-failed .stat-value").textContent() === "2", "two failed jobs counted");
    check(await page.locator("svg.chart").count() >= 2, "the charts are drawn");
    await shot("overview");

    step = "job page";
    await page.click(`a[href="/dashboard/jobs/${banner.id}"]`);
    await page.waitForURL(`**/dashboard/jobs/${banner.id}`);
    await page.waitForFunction(() => {
      const img = document.querySelector("img[data-output]");
      return img && img.complete && img.naturalWidth > 0;
    }, null, { timeout: 10000 });
    const width = await page.$eval("img[data-output]", (img) => img.naturalWidth);
    check(width === 200, `the output image is ${width} px wide`);
    check(await page.$eval("img.original-preview", (img) => img.complete && img.naturalWidth === 640), "the original shows");
    await shot("job-succeeded");
    await page.goto(`${base}/dashboard/jobs/${photo.id}`);
    await page.waitForFunction(() => document.querySelector("img[data-output]")?.naturalWidth === 256);

    step = "pdf job page";
    await page.goto(`${base}/dashboard/jobs/${pdf.id}`);
    await page.waitForFunction(() => [...document.querySelectorAll("img[data-output]")].every((i) => i.complete && i.naturalWidth > 0));
    check(await page.locator(".grid-thumbs img[data-output]").count() === 3, "three page thumbnails in a grid");
    await shot("job-pdf");

    step = "ascii job page";
    await page.goto(`${base}/dashboard/jobs/${ascii.id}`);
    check((await page.textContent("pre.ascii")).split("\n").length > 10, "the ASCII output shows in a <pre>");
    await shot("job-ascii");

    step = "jobs list";
    await page.goto(`${base}/dashboard/jobs`);
    check(await page.locator("table.jobs tbody tr").count() === 10, "every job is listed");
    check((await page.textContent("table.jobs")).includes(evil), "the hostile filename shows as text");
    check(await page.locator("table.jobs img").count() === 0, "the hostile filename made no element");
    await shot("jobs");
    await page.selectOption("select[name=state]", "failed");
    await page.click("form.filters button[type=submit]");
    await page.waitForURL("**/dashboard/jobs?state=failed**");
    check(await page.locator("table.jobs tbody tr").count() === 2, "the state filter leaves the two failed jobs");
    await shot("jobs-failed");

    step = "retry";
    await page.click(`a[href="/dashboard/jobs/${failed.id}"]`);
    await page.waitForURL(`**/dashboard/jobs/${failed.id}`);
    check(await page.locator(".error-box").count() === 1, "the error is shown inline");
    await shot("job-failed");
    await page.click("button[data-action=retry]");
    await page.waitForURL(`**/dashboard/jobs/${failed.id}?notice=*`);
    check((await page.textContent("h1 .badge")).trim() === "queued", "the retried job is queued");
    check((await page.textContent(".flash.notice")).includes("Retried 1 job"), "a notice says so");
    check((await api(base, `/v1/jobs/${failed.id}`)).body.state === "queued", "the API agrees");
    await shot("job-retried");

    step = "bulk cancel";
    await page.goto(`${base}/dashboard/jobs?plugin=slow`);
    await page.check("input[data-select-all]");
    await page.click("button[formaction='/dashboard/actions/cancel']");
    await page.waitForURL("**/dashboard/jobs?plugin=slow&notice=*");
    check((await page.textContent(".flash.notice")).includes("Canceled 3 jobs"), "three slow jobs canceled");
    await shot("jobs-canceled");

    step = "originals";
    await page.goto(`${base}/dashboard/originals`);
    check((await page.textContent("table.originals")).includes("later.png"), "the stored original is listed");
    await shot("originals");
    await page.goto(`${base}/dashboard/originals?pending=true`);
    check(await page.locator("table.originals tbody tr").count() === 1, "one original is pending");
    await page.check("input[name=original]");
    await page.click("details.process-panel summary");
    await page.selectOption("select[data-plugin-select]", "thumbnail");
    await page.fill("input[name='thumbnail.size']", "96");
    await shot("originals-process");
    await page.click("details.process-panel button[type=submit]");
    await page.waitForURL("**/dashboard/jobs?plugin=thumbnail&notice=*");
    check((await page.textContent(".flash.notice")).includes("1 job with thumbnail"), "a batch of one was made");

    step = "plugins";
    await page.goto(`${base}/dashboard/plugins`);
    check(await page.locator("article.plugin-card").count() >= 4, "the plugins are listed");
    check((await page.textContent("#plugin-thumbnail")).includes("size"), "the parameter table shows");
    await shot("plugins");

    step = "submit";
    await page.goto(`${base}/dashboard/submit?plugin=resize`);
    const file = path.join(work, "upload.png");
    fs.writeFileSync(file, makePng(320, 240, 42));
    await page.setInputFiles("input[type=file]", file);
    await page.fill("input[name='resize.width']", "120");
    await shot("submit");
    await page.click("form.submit-form button[type=submit]");
    await page.waitForURL(/\/dashboard\/jobs\/[0-9a-f-]{36}\?notice=/);
    const submitted = page.url().match(/jobs\/([0-9a-f-]{36})/)[1];
    const done = await waitForState(base, submitted, ["succeeded", "failed"]);
    check(done.state === "succeeded" && done.outputs[0].width === 120, `the submitted job ended ${done.state}`);

    step = "presets";
    await page.goto(`${base}/dashboard/presets`);
    await page.fill("form.preset-form input[name=name]", "avatar");
    await page.selectOption("form.preset-form select[name=plugin]", "thumbnail");
    await page.fill("form.preset-form input[name=params]", '{"size": 72}');
    await page.click("form.preset-form button[type=submit]");
    await page.waitForURL("**/dashboard/presets?notice=*");
    check((await page.textContent(".flash.notice")).includes("Saved preset avatar"), "a notice says the preset was saved");
    check((await page.textContent("#preset-avatar")).includes("valid"), "the saved preset is listed as valid");
    const listedPreset = (await api(base, "/v1/presets")).body.presets.find((p) => p.name === "avatar");
    check(listedPreset && listedPreset.params.size === 72, "the API lists the preset the form saved");
    await shot("presets");
    await page.click("#preset-avatar a.button");
    await page.waitForURL("**/dashboard/submit?preset=avatar");
    check(await page.$eval("select[data-plugin-select]", (s) => s.value) === "thumbnail", "the preset's plugin is chosen");
    await page.setInputFiles("input[type=file]", file);
    await shot("submit-preset");
    await page.click("form.submit-form button[type=submit]");
    await page.waitForURL(/\/dashboard\/jobs\/[0-9a-f-]{36}\?notice=/);
    const fromPreset = await waitForState(base, page.url().match(/jobs\/([0-9a-f-]{36})/)[1], ["succeeded", "failed"]);
    check(fromPreset.preset === "avatar" && fromPreset.outputs[0].width === 72,
      `the job from the preset ended ${fromPreset.state}, preset ${fromPreset.preset}, ${fromPreset.outputs[0]?.width} px`);

    step = "share link";
    await page.goto(`${base}/dashboard/jobs/${banner.id}`);
    await page.click("button[data-action=share]");
    await page.waitForURL(`**/dashboard/jobs/${banner.id}?notice=*`);
    const linkText = await page.textContent(".flash.notice");
    const link = (linkText.match(/https?:\/\/\S+\/s\/[A-Za-z0-9_-]+/) || [])[0];
    check(link, `the notice gives a share link: ${linkText}`);
    await shot("job-share-link");
    // Opened in a fresh browser context: no session, no token, only the link.
    const stranger = await chromium.launch({ executablePath: chromiumPath, headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const tab = await stranger.newPage();
      const opened = await tab.goto(link);
      check(opened.status() === 200 && opened.headers()["content-type"] === banner.outputs[0].media_type,
        `the share link answered ${opened.status()} ${opened.headers()["content-type"]}`);
      const forged = await tab.goto(link.slice(0, -2) + (link.endsWith("AA") ? "BB" : "AA"));
      check(forged.status() === 404, `a forged link answered ${forged.status()}`);
    } finally {
      await stranger.close();
    }

    step = "chain";
    const chainForm = new FormData();
    chainForm.append("file", new Blob([makePdf(3)], { type: "application/pdf" }), "chapters.pdf");
    chainForm.append("steps", JSON.stringify([{ plugin: "pdf2png", params: { dpi: 36 } },
      { plugin: "thumbnail", params: { size: 48, format: "png" } }]));
    const chainSubmit = await api(base, "/v1/jobs?wait=30", { method: "POST", body: chainForm });
    check(chainSubmit.status === 202, `the chain was refused: ${chainSubmit.status} ${JSON.stringify(chainSubmit.body)}`);
    const chain = await waitForState(base, chainSubmit.body.id, ["succeeded", "failed"]);
    check(chain.state === "succeeded", `the chain ended ${chain.state}`);
    await page.goto(`${base}/dashboard/jobs/${chain.id}`);
    const stepItems = await page.$$("#steps li.step");
    check(stepItems.length === 2, `the job page lists ${stepItems.length} steps`);
    const stepTexts = await page.$$eval("#steps li.step", (items) => items.map((li) => li.textContent));
    check(stepTexts[0].includes("pdf2png") && stepTexts[0].includes("succeeded") && stepTexts[0].includes("1 of 1"),
      `the first step reads: ${stepTexts[0]}`);
    check(stepTexts[1].includes("thumbnail") && stepTexts[1].includes("3 of 3") && stepTexts[1].includes("48"),
      `the second step reads: ${stepTexts[1]}`);
    const names = await page.$$eval("figure.output img", (imgs) => imgs.map((i) => i.alt));
    check(names.join(",") === "page-1.png,page-2.png,page-3.png", `the outputs are ${names.join(",")}`);
    await page.waitForFunction(() => [...document.querySelectorAll("figure.output img")]
      .every((i) => i.complete && (i.naturalWidth === 48 || i.naturalHeight === 48)), null, { timeout: 10000 });
    await shot("job-chain");

    step = "phone and dark";
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base}/dashboard`);
    await shot("overview-phone");
    await page.goto(`${base}/dashboard/jobs`);
    await shot("jobs-phone");
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 1360, height: 900 });
    await page.goto(`${base}/dashboard`);
    await shot("overview-dark");
    await page.goto(`${base}/dashboard/jobs/${pdf.id}`);
    await shot("job-pdf-dark");

    step = "live refresh";
    await page.goto(`${base}/dashboard/jobs`);
    await page.check("#live-toggle");
    await page.waitForTimeout(3500);
    check(await page.isChecked("#live-toggle"), "live stays on");

    step = "user svg";
    // Opened from the dashboard, the SVG original and its output must run nothing:
    // the original is served as an attachment under a sandbox CSP.
    const scriptRequests = [];
    page.on("request", (r) => { if (r.url().includes("via=svg-script")) scriptRequests.push(r.url()); });
    await page.goto(`${base}/dashboard/jobs/${svgJob.id}`);
    const originalHref = await page.$eval("a.more[download]", (a) => a.getAttribute("href"));
    check(originalHref === `/v1/jobs/${svgJob.id}/original`, `the original's link is ${originalHref}`);
    // Followed as a plain link (what "open in new tab" does), not as a download link.
    await page.$eval("a.more[download]", (a) => a.removeAttribute("download"));
    const downloading = page.waitForEvent("download", { timeout: 5000 }).catch(() => null);
    await page.click("a.more");
    const download = await downloading;
    check(!problems.some((p) => p.includes("dialog")), `opening the SVG ran its script: ${problems.join("; ")}`);
    check(download !== null, "opening the SVG original did not download it");
    check(download.suggestedFilename() === "hostile.svg", `the SVG downloads as ${download.suggestedFilename()}`);
    // Even where a browser ignores Content-Disposition and renders the bytes, the CSP sandbox holds.
    const direct = await context.request.get(`${base}/v1/jobs/${svgJob.id}/original`);
    check(/sandbox/.test(direct.headers()["content-security-policy"] || ""), "the original carries a sandbox CSP");
    const viewer = await context.newPage();
    viewer.on("dialog", (d) => { problems.push(`a dialog opened in the SVG view: ${d.message()}`); d.dismiss(); });
    viewer.on("request", (r) => { if (r.url().includes("via=svg-script")) scriptRequests.push(r.url()); });
    await viewer.route(`${base}/v1/jobs/${svgJob.id}/original`, async (route) => {
      const upstream = await route.fetch();
      const headers = { ...upstream.headers() };
      delete headers["content-disposition"];  // a browser that renders it inline
      await route.fulfill({ response: upstream, headers });
    });
    await viewer.goto(`${base}/v1/jobs/${svgJob.id}/original`);
    await viewer.waitForTimeout(500);
    await viewer.close();
    await page.goto(`${base}/dashboard/jobs/${svgJob.id}`);
    await page.waitForFunction(() => document.querySelector("img[data-output]")?.naturalWidth > 0);
    await page.waitForTimeout(300);
    check(scriptRequests.length === 0, `the SVG's script fetched ${scriptRequests.join(", ")}`);
    check(!problems.some((p) => p.includes("svg")), `the SVG ran script: ${problems.join("; ")}`);
    await shot("job-svg");

    step = "console";
    check(problems.length === 0, `no console errors, got:\n  ${problems.join("\n  ")}`);
    log("all checks passed");
  } finally {
    if (context) await context.close().catch(() => {});
    daemon.child.kill("SIGKILL");
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`[browser] FAILED ${e.stack || e}`);
    process.exit(1);
  },
);
