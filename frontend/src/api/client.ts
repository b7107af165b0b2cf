// The typed API client (openapi-fetch over the generated schema) with the session's
// tokens: the access token is refreshed shortly before it expires, a 401 is retried once
// after a refresh, and a failed refresh ends the session (the app then shows the login,
// and comes back to the same page after it).
import createClient, { type Middleware } from "openapi-fetch";
import type { paths } from "./schema";
import type { Session, SessionStore, TokenPair } from "./session";

/** Refresh this long before the access token expires. */
export const REFRESH_MARGIN_MS = 30_000;

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  code?: string;
  errors?: { message?: string; key?: string; source?: string }[];
  [key: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail || problem.title || `HTTP ${status}`);
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

export interface ClientOptions {
  store: SessionStore;
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  /** Called when the session could not be renewed (signed out). */
  onExpired?: () => void;
}

const NO_AUTH = ["/api/v1/auth/login", "/api/v1/auth/refresh"];

export function createApi(opts: ClientOptions) {
  const { store, baseUrl = "", now = () => Date.now(), onExpired } = opts;
  const doFetch = (input: Request) => (opts.fetch ?? globalThis.fetch)(input);
  let inflight: Promise<Session | null> | null = null;

  /** Renew the pair with the refresh token; one at a time (concurrent callers share it). */
  function refresh(): Promise<Session | null> {
    if (inflight) return inflight;
    const session = store.get();
    if (!session) return Promise.resolve(null);
    inflight = (async () => {
      try {
        const res = await doFetch(
          new Request(`${baseUrl || globalThis.location?.origin || ""}/api/v1/auth/refresh`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ refresh_token: session.refresh }),
          }),
        );
        if (!res.ok) throw new Error(`refresh: HTTP ${res.status}`);
        return store.setPair((await res.json()) as TokenPair, now());
      } catch {
        // Another tab may have refreshed already: its pair is in the store.
        const latest = store.get();
        if (latest && latest.refresh !== session.refresh && latest.expiresAt > now()) return latest;
        store.clear();
        onExpired?.();
        return null;
      } finally {
        inflight = null;
      }
    })();
    return inflight;
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async function accessToken(): Promise<string | null> {
    let session = store.get();
    if (!session) return null;
    if (session.expiresAt - now() < REFRESH_MARGIN_MS) session = await refresh();
    return session?.access ?? null;
  }

  const retries = new Map<string, Request>();
  const auth: Middleware = {
    async onRequest({ request, schemaPath, id }) {
      if (NO_AUTH.includes(schemaPath)) return request;
      const token = await accessToken();
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      retries.set(id, request.clone());
      return request;
    },
    async onResponse({ response, schemaPath, id }) {
      const copy = retries.get(id);
      retries.delete(id);
      if (response.status !== 401 || NO_AUTH.includes(schemaPath) || !copy) return response;
      const session = await refresh();
      if (!session) return response;
      const again = new Request(copy, { headers: new Headers(copy.headers) });
      again.headers.set("Authorization", `Bearer ${session.access}`);
      return doFetch(again);
    },
  };

  const client = createClient<paths>({
    baseUrl: baseUrl || globalThis.location?.origin || "http://localhost",
    fetch: doFetch,
  });
  client.use(auth);

  async function login(username: string, password: string): Promise<Session> {
    const { data, error, response } = await client.POST("/api/v1/auth/login", {
      body: { username, password },
    });
    if (error || !data) throw toError(response, error);
    return store.setPair(data, now());
  }

  async function logout(): Promise<void> {
    const session = store.get();
    if (session) {
      try {
        await client.POST("/api/v1/auth/logout", {
          body: { refresh_token: session.refresh },
        } as never);
      } catch {
        // signed out locally either way
      }
    }
    store.clear();
  }

  return { client, refresh, accessToken, login, logout, store };
}

export type Api = ReturnType<typeof createApi>;

export function toError(response: Response, error: unknown): ApiError {
  const body = (error && typeof error === "object" ? error : {}) as Partial<Problem>;
  return new ApiError(response.status, {
    ...body,
    status: response.status,
    title: body.title ?? response.statusText,
  });
}

/** openapi-fetch's `{data, error, response}` as the data, or an `ApiError`. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toError(response, error);
  return data as T;
}
