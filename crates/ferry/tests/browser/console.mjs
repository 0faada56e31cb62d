// Drives headless Chromium through the Ferry console the way an operator would: log in with
// an API key, find the open dead letter of the record named NAME, replace BAD with GOOD in its
// payload, replay it, and wait until the page no longer shows it open.
//
// Usage: node console.mjs <base-url> <api-key> <name> <bad> <good> <screenshot.png>
// Run by crates/ferry/tests/browser.rs, which checks the record reached the target.
// Chromium: $FERRY_CHROMIUM or /usr/bin/chromium (Debian's package; no browser download).
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, key, name, bad, good, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node console.mjs <base-url> <api-key> <name> <bad> <good> <screenshot.png>");
  process.exit(2);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A fresh profile each run, so no cookie or cache from an earlier run helps the test pass.
const profile = mkdtempSync(join(tmpdir(), "ferry-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.FERRY_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);

  // The root redirects a visitor without a session to the login form.
  await page.goto(base + "/");
  check(page.url().endsWith("/console/login"), `not sent to the login form: ${page.url()}`);
  await page.fill("#key", key);
  await Promise.all([page.waitForURL(base + "/console/"), page.click("button[type=submit]")]);

  await page.click("nav >> text=Dead letters");
  await page.waitForURL(/\/console\/dead-letters$/);
  const rows = page.locator("table.data tbody tr", { hasText: "open" });
  check((await rows.count()) === 1, `expected one open dead letter, saw ${await rows.count()}`);
  await Promise.all([page.waitForURL(/\/console\/dead-letters\/\d+$/), rows.first().locator("a").first().click()]);
  const detail = page.url();

  const textarea = page.locator("textarea[name=payload]");
  const payload = await textarea.inputValue();
  check(payload.includes(name), `the payload does not show ${name}:\n${payload}`);
  check(payload.includes(bad), `the payload does not show ${bad}:\n${payload}`);
  // The page as served (the textarea's text is part of the document), decoded as UTF-8.
  check((await page.locator("body").textContent()).includes(name), `the page text lacks ${name}`);
  await page.screenshot({ path: screenshot, fullPage: true });

  await textarea.fill(payload.replaceAll(bad, good));
  await Promise.all([
    page.waitForURL(/\?done=edited$/),
    page.click("text=Replay with this payload"),
  ]);
  const notice = await page.locator("body").innerText();
  check(notice.includes("queued for replay with the edited payload"), `no replay notice:\n${notice}`);

  // `ferry run` works the queue; the dead letter leaves the open state when the record lands.
  const deadline = Date.now() + 30_000;
  let state = "open";
  while (Date.now() < deadline) {
    await page.goto(detail);
    state = (await page.locator("h1 .state").innerText()).trim();
    if (state !== "open") break;
    await page.waitForTimeout(300);
  }
  check(state !== "open", "the dead letter is still open 30 s after the replay");
  console.log(`dead letter ${detail.split("/").pop()}: ${state}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
