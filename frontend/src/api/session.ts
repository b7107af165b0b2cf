// The signed-in session: the token pair and who it is, kept in localStorage so a reload
// keeps the user signed in. Listeners hear every change (sign-in, refresh, sign-out).
import type { components } from "./schema";

export type User = components["schemas"]["UserOut"];
export type TokenPair = components["schemas"]["TokenPair"];

export interface Session {
  access: string;
  refresh: string;
  /** epoch ms when the access token expires */
  expiresAt: number;
  user: User;
}

const KEY = "pi5.session";

export class SessionStore {
  private current: Session | null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly storage: Storage | null = globalThis.localStorage ?? null) {
    this.current = null;
    try {
      const raw = storage?.getItem(KEY);
      if (raw) this.current = JSON.parse(raw) as Session;
    } catch {
      this.current = null;
    }
  }

  get(): Session | null {
    return this.current;
  }

  setPair(pair: TokenPair, now: number = Date.now()): Session {
    const session: Session = {
      access: pair.access_token,
      refresh: pair.refresh_token,
      expiresAt: now + pair.expires_in * 1000,
      user: pair.user,
    };
    this.set(session);
    return session;
  }

  set(session: Session | null): void {
    this.current = session;
    try {
      if (session) this.storage?.setItem(KEY, JSON.stringify(session));
      else this.storage?.removeItem(KEY);
    } catch {
      // private mode: the session lives in memory only
    }
    for (const l of this.listeners) l();
  }

  clear(): void {
    this.set(null);
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
}
