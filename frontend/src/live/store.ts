// What the live socket has told us, for React (useSyncExternalStore): the latest price
// per symbol, the account's equity, the connection status and the recent order events.
import type { LiveMessage, LiveStatus } from "./socket";

export interface Price {
  symbol: string;
  price: string;
  bid?: string | null;
  ask?: string | null;
  at: string;
}

export interface LiveState {
  status: LiveStatus;
  detail?: string;
  prices: Record<string, Price>;
  equity: { equity: string; cash: string; at: string } | null;
  events: LiveMessage[];
  /** bumps on every message: lets a page react to "something happened" */
  seq: number;
}

const MAX_EVENTS = 100;

function mid(bid: string | null | undefined, ask: string | null | undefined): string | null {
  // Show the side that exists; with both, the bid/ask midpoint as the API's snapshot does.
  if (bid && ask) {
    const [bi = "0", bf = ""] = bid.split(".");
    const [ai = "0", af = ""] = ask.split(".");
    const scale = Math.max(bf.length, af.length) + 1;
    const b = BigInt(bi + bf.padEnd(scale, "0")) + BigInt(ai + af.padEnd(scale, "0"));
    const half = b / 2n;
    const s = half.toString().padStart(scale + 1, "0");
    const out = `${s.slice(0, -scale)}.${s.slice(-scale)}`.replace(/\.?0+$/, "");
    return out;
  }
  return bid ?? ask ?? null;
}

export class LiveStore {
  private state: LiveState = { status: "offline", prices: {}, equity: null, events: [], seq: 0 };
  private readonly listeners = new Set<() => void>();

  get = (): LiveState => this.state;

  subscribe = (l: () => void): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  private emit(next: LiveState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  setStatus(status: LiveStatus, detail?: string): void {
    this.emit({ ...this.state, status, detail });
  }

  apply(msg: LiveMessage): void {
    const s = this.state;
    const seq = s.seq + 1;
    switch (msg.type) {
      case "snapshot": {
        const prices = { ...s.prices };
        for (const p of (msg.prices as Array<Record<string, string | null>> | undefined) ?? []) {
          if (!p.symbol || !p.price) continue;
          prices[p.symbol] = {
            symbol: p.symbol,
            price: p.price,
            bid: p.bid,
            ask: p.ask,
            at: new Date(Number(BigInt(p.ts_ns ?? "0") / 1_000_000n)).toISOString(),
          };
        }
        this.emit({ ...s, prices, seq });
        return;
      }
      case "quote": {
        const symbol = String(msg.symbol);
        const price = mid(msg.bid as string | null, msg.ask as string | null);
        if (!price) return;
        const prices = {
          ...s.prices,
          [symbol]: {
            symbol,
            price,
            bid: msg.bid as string,
            ask: msg.ask as string,
            at: String(msg.ts),
          },
        };
        this.emit({ ...s, prices, seq });
        return;
      }
      case "trade":
      case "bar": {
        const symbol = String(msg.symbol);
        const price = String(msg.type === "bar" ? msg.close : msg.price);
        const prev = s.prices[symbol];
        const prices = {
          ...s.prices,
          [symbol]: { ...prev, symbol, price: prev?.price ?? price, at: String(msg.ts) },
        };
        this.emit({ ...s, prices, seq });
        return;
      }
      case "equity":
        this.emit({
          ...s,
          equity: { equity: String(msg.equity), cash: String(msg.cash), at: String(msg.ts) },
          seq,
        });
        return;
      default:
        this.emit({ ...s, events: [msg, ...s.events].slice(0, MAX_EVENTS), seq });
    }
  }
}
