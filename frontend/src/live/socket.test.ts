import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, type LiveMessage, LiveSocket, type WebSocketLike } from "./socket";

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(msg: object) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006) {
    this.onclose?.({ code, reason: "" });
  }
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe("the live socket", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  function make(
    getToken: (o: { forceRefresh: boolean }) => Promise<string | null> = vi.fn(async () => "tok"),
  ) {
    const messages: LiveMessage[] = [];
    const statuses: string[] = [];
    const live = new LiveSocket({
      url: "ws://x/ws",
      topics: ["data.quotes.*"],
      getToken,
      onMessage: (m) => messages.push(m),
      onStatus: (s) => statuses.push(s),
      createSocket: (url) => new FakeSocket(url),
      initialDelayMs: 500,
      maxDelayMs: 4000,
      jitter: 0,
    });
    return { live, messages, statuses, getToken };
  }

  async function handshake(s: FakeSocket) {
    s.open();
    s.receive({ type: "welcome", user: "bob", role: "trader", topics: [] });
    s.receive({ type: "subscribed", topics: ["data.quotes.*"] });
  }

  it("signs in with the first message, then subscribes", async () => {
    const { live, messages, statuses } = make();
    live.start();
    await flush();
    const s = FakeSocket.all[0] as FakeSocket;
    await handshake(s);
    expect(s.sent).toEqual([
      { type: "auth", token: "tok" },
      { type: "subscribe", topics: ["data.quotes.*"] },
    ]);
    s.receive({ type: "quote", topic: "data.quotes.AAPL", bid: "1", ask: "2" });
    expect(messages.map((m) => m.type)).toEqual(["subscribed", "quote"]);
    expect(statuses).toEqual(["connecting", "open"]);
    live.stop();
  });

  it("reconnects with exponential backoff and subscribes again", async () => {
    const { live, statuses } = make();
    live.start();
    await flush();
    await handshake(FakeSocket.all[0] as FakeSocket);
    live.setTopics(["orders.>"]);
    (FakeSocket.all[0] as FakeSocket).drop();
    expect(statuses.at(-1)).toBe("offline");
    // 500 ms, then 1 s, then 2 s ... up to the 4 s cap.
    await vi.advanceTimersByTimeAsync(499);
    expect(FakeSocket.all).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    (FakeSocket.all[1] as FakeSocket).drop();
    await vi.advanceTimersByTimeAsync(999);
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(3);
    const third = FakeSocket.all[2] as FakeSocket;
    await handshake(third);
    expect(third.sent).toEqual([
      { type: "auth", token: "tok" },
      { type: "subscribe", topics: ["orders.>"] },
    ]);
    // A success resets the backoff.
    third.drop();
    await vi.advanceTimersByTimeAsync(500);
    expect(FakeSocket.all).toHaveLength(4);
    live.stop();
  });

  it("asks for a fresh token after a 4401 close", async () => {
    const getToken = vi.fn(async ({ forceRefresh }: { forceRefresh: boolean }) =>
      forceRefresh ? "fresh" : "old",
    );
    const { live } = make(getToken);
    live.start();
    await flush();
    await handshake(FakeSocket.all[0] as FakeSocket);
    (FakeSocket.all[0] as FakeSocket).drop(4401);
    await vi.advanceTimersByTimeAsync(500);
    const again = FakeSocket.all[1] as FakeSocket;
    again.open();
    expect(again.sent[0]).toEqual({ type: "auth", token: "fresh" });
    expect(getToken).toHaveBeenLastCalledWith({ forceRefresh: true });
    live.stop();
  });

  it("answers the server's ping and stops for good", async () => {
    const { live } = make();
    live.start();
    await flush();
    const s = FakeSocket.all[0] as FakeSocket;
    await handshake(s);
    s.receive({ type: "ping" });
    expect(s.sent.at(-1)).toEqual({ type: "pong" });
    live.stop();
    s.drop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it("computes capped delays with jitter", () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, 500, 4000))).toEqual([
      500, 1000, 2000, 4000, 4000, 4000,
    ]);
    expect(backoffDelay(0, 1000, 4000, 0.2, () => 0)).toBe(800);
    expect(backoffDelay(0, 1000, 4000, 0.2, () => 1)).toBe(1200);
  });
});
