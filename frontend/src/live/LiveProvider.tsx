import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  type ReactNode,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useSyncExternalStore,
} from "react";
import { useApi, useSession } from "../auth";
import { type LiveMessage, LiveSocket } from "./socket";
import { type LiveState, LiveStore } from "./store";

export const TOPICS = [
  "data.quotes.*",
  "data.bars.>",
  "orders.>",
  "positions.>",
  "account.equity",
  "risk.state",
  "strategies.status",
  "feeds.status",
  "backtests",
];

const LiveContext = createContext<{ store: LiveStore; socket: LiveSocket | null } | null>(null);

function wsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss" : "ws"}://${host}/ws`;
}

/** Which cached queries an event makes stale (refetched, not polled). */
function staleKeys(msg: LiveMessage): string[][] {
  const topic = msg.topic ?? "";
  if (topic.startsWith("orders.")) return [["orders"], ["fills"], ["summary"], ["strategies"]];
  if (topic.startsWith("positions.")) return [["positions"], ["summary"]];
  if (topic === "risk.state") return [["risk"], ["summary"]];
  if (topic === "strategies.status") return [["strategies"]];
  if (topic === "feeds.status") return [["ready"], ["system"]];
  if (topic === "backtests") return [["backtests"]];
  return [];
}

export function LiveProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const session = useSession();
  const queryClient = useQueryClient();
  const store = useMemo(() => new LiveStore(), []);
  const socketRef = useRef<LiveSocket | null>(null);
  const signedIn = session !== null;

  useEffect(() => {
    if (!signedIn) return;
    const pending = new Set<string>();
    let flush: ReturnType<typeof setTimeout> | null = null;
    const socket = new LiveSocket({
      url: wsUrl(),
      topics: TOPICS,
      getToken: async ({ forceRefresh }) =>
        forceRefresh ? ((await api.refresh())?.access ?? null) : api.accessToken(),
      onStatus: (status, detail) => store.setStatus(status, detail),
      onMessage: (msg) => {
        store.apply(msg);
        if (msg.type === "snapshot") {
          void queryClient.invalidateQueries();
          return;
        }
        for (const key of staleKeys(msg)) pending.add(JSON.stringify(key));
        if (pending.size && !flush) {
          // Coalesce bursts (a fill is several events) into one refetch per query.
          flush = setTimeout(() => {
            flush = null;
            for (const k of pending)
              void queryClient.invalidateQueries({ queryKey: JSON.parse(k) });
            pending.clear();
          }, 250);
        }
      },
    });
    socketRef.current = socket;
    socket.start();
    return () => {
      if (flush) clearTimeout(flush);
      socket.stop();
      socketRef.current = null;
    };
  }, [signedIn, api, store, queryClient]);

  const value = useMemo(() => ({ store, socket: socketRef.current }), [store]);
  return <LiveContext.Provider value={value}>{children}</LiveContext.Provider>;
}

export function useLive(): LiveState {
  const ctx = useContext(LiveContext);
  if (!ctx) throw new Error("useLive outside LiveProvider");
  return useSyncExternalStore(ctx.store.subscribe, ctx.store.get, ctx.store.get);
}
