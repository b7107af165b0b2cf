import { describe, expect, it, vi } from "vitest";
import { createApi, REFRESH_MARGIN_MS } from "./client";
import { SessionStore, type TokenPair } from "./session";

const user = {
  id: "u1",
  username: "bob",
  role: "trader",
  is_active: true,
  created_at: "2026-12-03T00:00:00Z",
  email: null,
  last_login_at: null,
};

function pair(n: number, expiresIn = 900): TokenPair {
  return {
    access_token: `access-${n}`,
    refresh_token: `refresh-${n}`,
    expires_in: expiresIn,
    token_type: "Bearer",
    user,
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function memoryStorage(): Storage {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
    clear: () => m.clear(),
    key: () => null,
    get length() {
      return m.size;
    },
  };
}

function setup(handler: (req: Request) => Response | Promise<Response>, now = 1_000_000) {
  const store = new SessionStore(memoryStorage());
  const calls: { url: string; auth: string | null; body?: string }[] = [];
  const fetch = vi.fn(async (req: Request) => {
    const body = req.method === "POST" ? await req.clone().text() : undefined;
    calls.push({ url: new URL(req.url).pathname, auth: req.headers.get("authorization"), body });
    return handler(req);
  });
  const onExpired = vi.fn();
  const clock = { t: now };
  const api = createApi({
    store,
    baseUrl: "http://test",
    fetch: fetch as unknown as typeof globalThis.fetch,
    now: () => clock.t,
    onExpired,
  });
  return { api, store, calls, onExpired, clock };
}

describe("the API client's tokens", () => {
  it("sends the access token", async () => {
    const { api, store, calls } = setup(() => json(200, []));
    store.setPair(pair(1), 1_000_000);
    await api.client.GET("/api/v1/strategies");
    expect(calls).toEqual([
      { url: "/api/v1/strategies", auth: "Bearer access-1", body: undefined },
    ]);
  });

  it("refreshes shortly before the access token expires", async () => {
    const { api, store, calls, clock } = setup((req) =>
      new URL(req.url).pathname === "/api/v1/auth/refresh" ? json(200, pair(2)) : json(200, []),
    );
    store.setPair(pair(1, 900), clock.t);
    clock.t += 900_000 - REFRESH_MARGIN_MS + 1;
    await api.client.GET("/api/v1/strategies");
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/auth/refresh", "/api/v1/strategies"]);
    expect(calls[0]?.body).toBe(JSON.stringify({ refresh_token: "refresh-1" }));
    expect(calls[1]?.auth).toBe("Bearer access-2");
    expect(store.get()?.refresh).toBe("refresh-2");
  });

  it("retries once after a 401, with the refreshed token and the same body", async () => {
    let orders = 0;
    const { api, store, calls } = setup((req) => {
      const path = new URL(req.url).pathname;
      if (path === "/api/v1/auth/refresh") return json(200, pair(2));
      orders += 1;
      return orders === 1
        ? json(401, { status: 401, title: "Not signed in" })
        : json(201, { order: {}, denial: null });
    });
    store.setPair(pair(1), 1_000_000);
    const res = await api.client.POST("/api/v1/orders", {
      body: {
        symbol: "AAPL",
        side: "buy",
        quantity: "1",
        type: "market",
        time_in_force: "gtc",
        post_only: false,
        reduce_only: false,
        trailing_offset_type: "price",
      },
    });
    expect(res.response.status).toBe(201);
    expect(calls.map((c) => [c.url, c.auth])).toEqual([
      ["/api/v1/orders", "Bearer access-1"],
      ["/api/v1/auth/refresh", null],
      ["/api/v1/orders", "Bearer access-2"],
    ]);
    expect(calls[2]?.body).toBe(calls[0]?.body);
  });

  it("ends the session when the refresh is refused, and says so", async () => {
    const { api, store, onExpired } = setup((req) =>
      new URL(req.url).pathname === "/api/v1/auth/refresh"
        ? json(401, { status: 401 })
        : json(401, { status: 401 }),
    );
    store.setPair(pair(1), 1_000_000);
    const res = await api.client.GET("/api/v1/strategies");
    expect(res.response.status).toBe(401);
    expect(store.get()).toBeNull();
    expect(onExpired).toHaveBeenCalledTimes(1);
  });

  it("shares one refresh between concurrent requests", async () => {
    const { api, store, calls, clock } = setup((req) =>
      new URL(req.url).pathname === "/api/v1/auth/refresh" ? json(200, pair(2)) : json(200, []),
    );
    store.setPair(pair(1, 900), clock.t);
    clock.t += 900_000;
    await Promise.all([
      api.client.GET("/api/v1/strategies"),
      api.client.GET("/api/v1/risk"),
      api.client.GET("/api/v1/fills"),
    ]);
    expect(calls.filter((c) => c.url === "/api/v1/auth/refresh")).toHaveLength(1);
  });

  it("signs in and out", async () => {
    const { api, store, calls } = setup((req) =>
      new URL(req.url).pathname === "/api/v1/auth/login"
        ? json(200, pair(1))
        : new Response(null, { status: 204 }),
    );
    const session = await api.login("bob", "secret-secret");
    expect(session.user.username).toBe("bob");
    expect(calls[0]?.auth).toBeNull();
    await api.logout();
    expect(store.get()).toBeNull();
    expect(calls[1]).toMatchObject({ url: "/api/v1/auth/logout", auth: "Bearer access-1" });
  });

  it("a wrong password is an ApiError with the server's detail", async () => {
    const { api } = setup(() =>
      json(401, { status: 401, title: "Not signed in", detail: "wrong username or password" }),
    );
    await expect(api.login("bob", "nope")).rejects.toThrow("wrong username or password");
  });
});
