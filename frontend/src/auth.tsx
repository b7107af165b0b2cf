import { createContext, type ReactNode, useContext, useSyncExternalStore } from "react";
import { Navigate, useLocation } from "react-router";
import type { Api } from "./api/client";
import type { Session } from "./api/session";

const ApiContext = createContext<Api | null>(null);

export function ApiProvider({ api, children }: { api: Api; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}

export function useApi(): Api {
  const api = useContext(ApiContext);
  if (!api) throw new Error("useApi outside ApiProvider");
  return api;
}

export function useSession(): Session | null {
  const { store } = useApi();
  return useSyncExternalStore(
    store.subscribe,
    () => store.get(),
    () => store.get(),
  );
}

export function useRole() {
  const role = useSession()?.user.role ?? "viewer";
  return { role, canTrade: role === "trader" || role === "admin", isAdmin: role === "admin" };
}

/** Pages behind the login: without a session, the login page, then back here. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (!session) {
    const next = location.pathname + location.search;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}
