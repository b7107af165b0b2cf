// The server state the pages share (TanStack Query): one key per resource, made stale by
// the live events (LiveProvider) rather than polled.
import { useQuery } from "@tanstack/react-query";
import { unwrap } from "./api/client";
import { useApi } from "./auth";

export function useSummary() {
  const { client } = useApi();
  return useQuery({
    queryKey: ["summary"],
    queryFn: () => unwrap(client.GET("/api/v1/portfolio/summary")),
  });
}

export function usePositions(strategy?: string) {
  const { client } = useApi();
  return useQuery({
    queryKey: ["positions", strategy ?? null],
    queryFn: () =>
      unwrap(client.GET("/api/v1/portfolio/positions", { params: { query: { strategy } } })),
  });
}

export function useInstruments() {
  const { client } = useApi();
  return useQuery({
    queryKey: ["instruments"],
    queryFn: () => unwrap(client.GET("/api/v1/market/instruments")),
    staleTime: 5 * 60_000,
  });
}

export function useFills(limit = 20, strategy?: string) {
  const { client } = useApi();
  return useQuery({
    queryKey: ["fills", limit, strategy ?? null],
    queryFn: () => unwrap(client.GET("/api/v1/fills", { params: { query: { limit, strategy } } })),
  });
}

export function useRisk() {
  const { client } = useApi();
  return useQuery({ queryKey: ["risk"], queryFn: () => unwrap(client.GET("/api/v1/risk")) });
}

export function useStrategies() {
  const { client } = useApi();
  return useQuery({
    queryKey: ["strategies"],
    queryFn: () => unwrap(client.GET("/api/v1/strategies")),
  });
}

export function useHistory(resolution: string, start?: string) {
  const { client } = useApi();
  return useQuery({
    queryKey: ["history", resolution, start ?? null],
    queryFn: () =>
      unwrap(client.GET("/api/v1/portfolio/history", { params: { query: { resolution, start } } })),
    refetchInterval: 60_000,
  });
}
