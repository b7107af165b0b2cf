import { apiToken, expect, login, shot, test } from "./fixtures";

test("sign in, see the overview, sign out; a wrong password is refused", async ({ page }) => {
  await page.goto("/orders");
  await expect(page).toHaveURL(/\/login\?next=%2Forders/);
  await page.getByLabel("Username").fill("e2e-trader");
  await page.getByLabel("Password").fill("not-the-password-at-all");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("Sign-in failed");
  await shot(page, "login");
  await login(page, "trader", "/orders");
  // Back on the page asked for.
  await expect(page).toHaveURL(/\/orders$/);
  await page.getByRole("link", { name: "Overview" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  await expect(page.getByText("Equity", { exact: true })).toBeVisible();
  await expect(page.getByTestId("live-status")).toHaveText("live");
  await shot(page, "overview");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
});

test("prices move over the WebSocket", async ({ page }) => {
  await login(page);
  const price = page.getByTestId("price-AAPL").locator(".num");
  await expect(price).toHaveText(/\d/);
  const first = await price.textContent();
  await expect.poll(async () => price.textContent(), { timeout: 20_000 }).not.toBe(first);
  await page.goto("/market/AAPL");
  const market = page.getByTestId("market-price");
  await expect(market).toHaveText(/\d/);
  const m1 = await market.textContent();
  await expect.poll(async () => market.textContent(), { timeout: 20_000 }).not.toBe(m1);
  await page.waitForTimeout(500);
  await shot(page, "market");
});

test("create, stop and start a strategy", async ({ page }) => {
  await login(page);
  await page.getByRole("link", { name: "Strategies" }).click();
  await page.getByLabel("Strategy type").selectOption("sma_crossover");
  await page.getByLabel("Instance id").fill("e2e-sma");
  // Inline validation: not a number.
  await page.getByLabel("fast", { exact: true }).fill("three");
  await expect(page.getByText("fast: a number")).toBeVisible();
  await page.getByLabel("fast", { exact: true }).fill("3");
  await page.getByLabel("slow", { exact: true }).fill("8");
  await page.getByLabel("quantity", { exact: true }).fill("1");
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("status")).toContainText("Created e2e-sma");
  const card = page.getByTestId("strategy-e2e-sma");
  await expect(card.locator(".badge")).toHaveText("running");
  await card.getByRole("button", { name: "stop e2e-sma" }).click();
  await expect(card.locator(".badge")).toHaveText("stopped");
  await card.getByRole("button", { name: "start e2e-sma" }).click();
  await expect(card.locator(".badge")).toHaveText("running");
  await shot(page, "strategies");
  await card.getByRole("button", { name: "stop e2e-sma" }).click();
  await expect(card.locator(".badge")).toHaveText("stopped");
  // Its performance and its recent events (the status changes above among them).
  await card.getByText("Performance and recent events").click();
  await expect(page.getByTestId("strategy-perf-e2e-sma")).toContainText("trades");
  await expect(card.locator(".events li").first()).toBeVisible();
});

test("place and cancel a manual limit order", async ({ page }) => {
  const token = await apiToken(page);
  const quotes = await (
    await page.request.get("/api/v1/market/quotes", {
      headers: { Authorization: `Bearer ${token}` },
    })
  ).json();
  const aapl = quotes.find((q: { symbol: string }) => q.symbol === "AAPL");
  // 3 % under the market: inside the 10 % collar, far from a fill.
  const limit = (Number(aapl.price) * 0.97).toFixed(2);
  await login(page);
  await page.getByRole("link", { name: "Orders" }).click();
  const ticket = page.getByRole("form", { name: "Order ticket" });
  await ticket.getByLabel("Symbol").selectOption("AAPL");
  await ticket.getByLabel("Order type").selectOption("limit");
  await ticket.getByLabel("Quantity").fill("1");
  await ticket.getByRole("button", { name: "Place buy order" }).click();
  await expect(ticket.getByText("a limit price above 0")).toBeVisible();
  await ticket.getByLabel("Limit price").fill(limit);
  await ticket.getByRole("button", { name: "Place buy order" }).click();
  const placed = page.getByRole("status").filter({ hasText: "Placed" });
  await expect(placed).toContainText(/Placed manual-\d+: (accepted|submitted)/);
  const id = /manual-\d+/.exec((await placed.textContent()) ?? "")?.[0] ?? "";
  const row = page.getByTestId(`order-${id}`);
  await expect(row).toBeVisible();
  await shot(page, "orders");
  // Modify: a lower limit, in the dialog.
  const lower = (Number(limit) - 1).toFixed(2);
  await row.getByRole("button", { name: `Modify ${id}` }).click();
  const dialog = page.getByRole("dialog", { name: `Modify ${id}` });
  await dialog.getByLabel("Limit price").fill(lower);
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toBeHidden();
  // The venue's answer (the stored order's terms do not follow a modification yet: an API issue).
  await expect(page.getByTestId("order-notice")).toContainText(
    `Modified ${id}: quantity 1, limit ${Number(lower)}`,
  );
  await row.getByRole("button", { name: `Cancel ${id}` }).click();
  await expect(row).toContainText("cancelled");
});

test("older Orders pages hold still while new orders arrive", async ({ page }) => {
  const token = await apiToken(page);
  const headers = { Authorization: `Bearer ${token}` };
  // Far under the market: they rest (or the risk engine refuses some: rows all the same).
  const place = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await page.request.post("/api/v1/orders", {
        headers,
        data: { symbol: "MSFT", side: "buy", quantity: "1", type: "limit", price: "1" },
      });
      expect(res.status(), await res.text()).toBeLessThan(500);
    }
  };
  await place(30);
  await login(page);
  await page.getByRole("link", { name: "Orders" }).click();
  await page.getByLabel("Strategy").fill("manual");
  const ids = () => page.locator("tbody th").allInnerTexts();
  await expect.poll(async () => (await ids()).every((i) => i.startsWith("manual-"))).toBe(true);
  await page.getByRole("button", { name: "Older" }).click();
  await expect(page.getByTestId("orders-as-of")).toContainText("created before");
  await expect(page.locator(".table-wrap[aria-busy=true]")).toHaveCount(0);
  const before = await ids();
  expect(before.length).toBeGreaterThan(0);
  // New orders: the page is asked again (the live update), and shows the same rows.
  const asked = page.waitForResponse(
    (r) => r.url().includes("/api/v1/orders?") && r.url().includes("offset=25"),
  );
  await place(10);
  await asked;
  expect(await ids()).toEqual(before);
  await shot(page, "orders-older-page");
  // Back to the first page: live again, with the new orders.
  await page.getByRole("button", { name: "Newer" }).click();
  await expect(page.getByTestId("orders-as-of")).toHaveCount(0);
  await expect.poll(async () => (await ids()).some((i) => !before.includes(i))).toBe(true);
});

test("an oversized order shows the risk engine's denial", async ({ page }) => {
  await login(page);
  await page.goto("/orders");
  const ticket = page.getByRole("form", { name: "Order ticket" });
  await ticket.getByLabel("Quantity").fill("1000000");
  await ticket.getByRole("button", { name: "Place buy order" }).click();
  const denial = page.getByTestId("denial");
  await expect(denial).toContainText("Order denied by risk");
  await expect(denial).toContainText("max_quantity");
  await shot(page, "orders-denied");
});

test("run a small backtest and open its result", async ({ page }) => {
  const token = await apiToken(page);
  const probe = await page.request.get("/api/v1/backtests/options", {
    headers: { Authorization: `Bearer ${token}` },
  });
  test.skip(
    probe.status() === 404,
    "the backtest-jobs routes (API branch api/jobs) are not on this server yet",
  );
  await login(page);
  await page.getByRole("link", { name: "Backtests" }).click();
  await page.getByLabel("Strategy", { exact: true }).selectOption("sma_crossover");
  await page.getByLabel("Data").selectOption("generated:2000");
  await page.getByRole("button", { name: "Run backtest" }).click();
  const submitted = page.getByRole("status").filter({ hasText: "Submitted" });
  await expect(submitted).toBeVisible();
  await submitted.getByRole("link").click();
  await expect(page.getByTestId("backtest-metrics")).toBeVisible({ timeout: 45_000 });
  await expect(page.getByRole("table").filter({ hasText: "Entry price" })).toBeVisible();
  await shot(page, "backtest-result");
  // The self-contained HTML report opens in a new tab.
  const [report] = await Promise.all([
    page.context().waitForEvent("page"),
    page.getByRole("button", { name: "Open the HTML report" }).click(),
  ]);
  await report.waitForLoadState();
  await expect(report.locator("body")).not.toBeEmpty();
  await report.close();
});

test("the overview on a phone", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await login(page);
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  // The navigation folds into the menu button.
  await expect(page.getByRole("link", { name: "Orders" })).toBeHidden();
  await page.getByRole("button", { name: "Menu" }).click();
  await expect(page.getByRole("link", { name: "Orders" })).toBeVisible();
  await page.getByRole("button", { name: "Menu" }).click();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(392);
  await shot(page, "overview-phone");
  // The dark theme follows the system's.
  await page.emulateMedia({ colorScheme: "dark" });
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  expect(bg).toBe("rgb(13, 16, 20)");
  await shot(page, "overview-phone-dark");
});

test("every page renders for an admin", async ({ page }) => {
  await login(page, "admin");
  for (const [path, heading, name] of [
    ["/positions", "Positions and portfolio", "positions"],
    ["/system", "System", "system"],
    ["/users", "Users", "users"],
    ["/backtests", "Backtests", "backtests"],
    ["/strategies", "Strategies", "strategies-admin"],
  ] as const) {
    await page.goto(path);
    await expect(page.getByRole("heading", { level: 1, name: heading, exact: true })).toBeVisible();
    await page.waitForLoadState("networkidle");
    await shot(page, name);
  }
  await page.goto("/system");
  await expect(page.getByTestId("audit-verify")).toContainText("intact");
});

test("an expired session goes to the login and back to the same page", async ({ page }) => {
  await login(page, "trader", "/strategies");
  await expect(page.getByRole("heading", { level: 1, name: "Strategies" })).toBeVisible();
  // Both tokens stop working (as after a logout elsewhere, or 7 days later).
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("pi5.session") ?? "{}");
    localStorage.setItem(
      "pi5.session",
      JSON.stringify({
        ...s,
        access: "expired",
        refresh: "spent",
        expiresAt: Date.now() + 600_000,
      }),
    );
  });
  await page.reload();
  await expect(page).toHaveURL(/\/login\?next=%2Fstrategies/);
  await login(page, "trader", "/strategies");
  await expect(page).toHaveURL(/\/strategies$/);
});

test("an admin halts and resumes trading, and creates a user", async ({ page }) => {
  await login(page, "admin");
  await page.getByLabel("Reason").fill("e2e: halt and resume");
  await page.getByRole("button", { name: "Halt trading" }).click();
  const state = page.locator(".trading-state .badge");
  await expect(state).toHaveText("halted");
  await shot(page, "overview-halted");
  await page.getByLabel("Reason").fill("e2e: resume");
  await page.getByRole("button", { name: "Resume" }).click();
  await expect(state).toHaveText("active");
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByLabel("Username").fill("e2e-viewer");
  await page.getByLabel("Password (12 characters or more)").fill("copper-kettle-window-4k8z");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByRole("status")).toContainText("Created e2e-viewer (viewer)");
  await expect(page.getByRole("rowheader", { name: "e2e-viewer" })).toBeVisible();
});

test("an admin stores a vendor key, shown after only by its last 4 characters", async ({
  page,
}) => {
  const secret = "E2EALPHAKEY0WXYZ";
  await login(page, "admin", "/users");
  const table = page.getByTestId("credentials");
  await expect(table.getByRole("row", { name: /alphavantage/ })).toContainText("none");
  await page.getByLabel("Provider").selectOption("alphavantage");
  await page.getByLabel("API key").fill(secret);
  await page.getByRole("button", { name: "Store keys" }).click();
  await expect(page.getByRole("status")).toContainText("Stored the keys of alphavantage (…WXYZ)");
  const row = table.getByRole("row", { name: /alphavantage/ });
  await expect(row).toContainText("stored");
  await expect(row).toContainText("…WXYZ");
  await expect(page.getByLabel("API key")).toHaveValue("");
  expect(await page.content()).not.toContain(secret);
  await shot(page, "users-credentials");
  await row.getByRole("button", { name: "Forget" }).click();
  await expect(row).toContainText("none");
});

// The guard itself: these must fail (test.fail), or the guard catches nothing.
test.describe("the console and 5xx guard", () => {
  test.fail(true, "the guard fails a test whose page logs a console error or gets a 5xx");
  test("a console error fails the test", async ({ page }) => {
    await page.goto("/login");
    await page.evaluate(() => console.error("boom"));
  });
  test("a 5xx answer fails the test", async ({ page }) => {
    await page.route("**/api/v1/market/quotes", (route) =>
      route.fulfill({ status: 500, body: "{}" }),
    );
    await page.goto("/login");
    await page.evaluate(() => fetch("/api/v1/market/quotes").catch(() => null));
    await page.waitForTimeout(200);
  });
});
