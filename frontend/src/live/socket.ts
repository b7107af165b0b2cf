// One authenticated WebSocket to /ws: the token goes in the first message, then the
// topics; on a drop it reconnects with exponential backoff (and jitter) and subscribes
// again; 4401 (expired or revoked token) asks for a fresh token before the next try.

export type LiveStatus = "connecting" | "open" | "offline";

export interface LiveMessage {
  type: string;
  topic?: string;
  [key: string]: unknown;
}

export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface LiveOptions {
  url: string;
  /** A valid access token (refreshed when needed), or null when signed out. */
  getToken: (opts: { forceRefresh: boolean }) => Promise<string | null>;
  topics: string[];
  onMessage: (msg: LiveMessage) => void;
  onStatus?: (status: LiveStatus, detail?: string) => void;
  createSocket?: (url: string) => WebSocketLike;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** 0..1 spread of the delay; tests pass 0 */
  jitter?: number;
  random?: () => number;
}

export const UNAUTHORIZED = 4401;

export function backoffDelay(
  attempt: number,
  initial: number,
  max: number,
  jitter = 0,
  random: () => number = Math.random,
): number {
  const base = Math.min(max, initial * 2 ** attempt);
  return Math.round(base * (1 - jitter + 2 * jitter * random()));
}

export class LiveSocket {
  private socket: WebSocketLike | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private stopped = true;
  private forceRefresh = false;
  private topics: string[];
  status: LiveStatus = "offline";

  constructor(private readonly opts: LiveOptions) {
    this.topics = [...opts.topics];
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = null;
      s.onmessage = null;
      s.close(1000, "bye");
    }
    this.setStatus("offline");
  }

  /** Replace the topics (sent now when connected, and after every reconnect). */
  setTopics(topics: string[]): void {
    this.topics = [...topics];
    if (this.socket && this.status === "open")
      this.send({ type: "subscribe", topics: this.topics });
  }

  get retryAttempt(): number {
    return this.attempt;
  }

  private setStatus(status: LiveStatus, detail?: string): void {
    if (this.status === status && !detail) return;
    this.status = status;
    this.opts.onStatus?.(status, detail);
  }

  private send(msg: object): void {
    this.socket?.send(JSON.stringify(msg));
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setStatus("connecting");
    const token = await this.opts.getToken({ forceRefresh: this.forceRefresh });
    this.forceRefresh = false;
    if (this.stopped) return;
    if (!token) {
      this.setStatus("offline", "signed out");
      return;
    }
    const create =
      this.opts.createSocket ?? ((url: string) => new WebSocket(url) as unknown as WebSocketLike);
    const socket = create(this.opts.url);
    this.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token }));
    socket.onmessage = (ev) => {
      let msg: LiveMessage;
      try {
        msg = JSON.parse(String(ev.data)) as LiveMessage;
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        this.send({ type: "subscribe", topics: this.topics });
        return;
      }
      if (msg.type === "subscribed") {
        this.attempt = 0;
        this.setStatus("open");
      } else if (msg.type === "ping") {
        this.send({ type: "pong" });
        return;
      }
      this.opts.onMessage(msg);
    };
    socket.onerror = () => {
      // onclose follows
    };
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (ev.code === UNAUTHORIZED) this.forceRefresh = true;
      this.scheduleReconnect(ev.reason || `closed (${ev.code})`);
    };
  }

  private scheduleReconnect(detail: string): void {
    if (this.stopped) return;
    const { initialDelayMs = 500, maxDelayMs = 15_000, jitter = 0.2, random } = this.opts;
    const delay = backoffDelay(this.attempt, initialDelayMs, maxDelayMs, jitter, random);
    this.attempt += 1;
    this.setStatus("offline", detail);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }
}
