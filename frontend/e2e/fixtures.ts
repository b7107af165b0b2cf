// Every test fails when its page logs a console error, throws, or any request answers 5xx;
// screenshots go to test-artifacts/e2e/ on every run.
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test as base, expect, type Page } from "@playwright/test";
import { USERS } from "./users.mjs";

export const ARTIFACTS = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "test-artifacts",
  "e2e",
);
mkdirSync(ARTIFACTS, { recursive: true });

// The browser logs every 4xx answer as a console error; those are answers the pages handle
// (a risk denial is a 422). Server errors are caught from the responses themselves.
const EXPECTED = /Failed to load resource: the server responded with a status of 4\d\d/;

export const test = base.extend<{ guard: string[] }>({
  guard: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on("console", (msg) => {
        if (msg.type() === "error" && !EXPECTED.test(msg.text()))
          problems.push(`console error: ${msg.text()}`);
      });
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("response", (res) => {
        if (res.status() >= 500)
          problems.push(`${res.status()} from ${res.request().method()} ${res.url()}`);
      });
      page.on("requestfailed", (req) => {
        const failure = req.failure()?.errorText ?? "";
        // Navigations away abort in-flight fetches; that is not a server failure.
        if (!/ERR_ABORTED/.test(failure)) problems.push(`request failed: ${req.url()} ${failure}`);
      });
      await use(problems);
      expect(problems, "console errors, page errors or 5xx answers during the test").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export async function login(
  page: Page,
  who: keyof typeof USERS = "trader",
  next = "/",
): Promise<void> {
  const u = USERS[who];
  await page.goto(next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel("Username").fill(u.username);
  await page.getByLabel("Password").fill(u.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("live-status")).toBeVisible();
}

/** An access token for API calls the test makes itself (prices for a limit order). */
export async function apiToken(page: Page, who: keyof typeof USERS = "trader"): Promise<string> {
  const u = USERS[who];
  const res = await page.request.post("/api/v1/auth/login", {
    data: { username: u.username, password: u.password },
  });
  expect(res.ok()).toBeTruthy();
  return (await res.json()).access_token as string;
}
