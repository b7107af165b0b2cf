import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense, useMemo, useState } from "react";
import { BrowserRouter, NavLink, Outlet, Route, Routes, useNavigate } from "react-router";
import { ApiError, createApi } from "./api/client";
import { SessionStore } from "./api/session";
import { ApiProvider, RequireAuth, useApi, useRole, useSession } from "./auth";
import { LiveProvider, useLive } from "./live/LiveProvider";
import { LoginPage } from "./pages/Login";

// Each page is its own chunk: the login loads no chart library.
const OverviewPage = lazy(() =>
  import("./pages/Overview").then((m) => ({ default: m.OverviewPage })),
);
const PositionsPage = lazy(() =>
  import("./pages/Positions").then((m) => ({ default: m.PositionsPage })),
);
const OrdersPage = lazy(() => import("./pages/Orders").then((m) => ({ default: m.OrdersPage })));
const StrategiesPage = lazy(() =>
  import("./pages/Strategies").then((m) => ({ default: m.StrategiesPage })),
);
const MarketPage = lazy(() => import("./pages/Market").then((m) => ({ default: m.MarketPage })));
const BacktestsPage = lazy(() =>
  import("./pages/Backtests").then((m) => ({ default: m.BacktestsPage })),
);
const BacktestResultPage = lazy(() =>
  import("./pages/Backtests").then((m) => ({ default: m.BacktestResultPage })),
);
const SystemPage = lazy(() => import("./pages/System").then((m) => ({ default: m.SystemPage })));
const UsersPage = lazy(() => import("./pages/Users").then((m) => ({ default: m.UsersPage })));

function ConnectionBanner() {
  const live = useLive();
  if (live.status === "open") return null;
  return (
    <div role="status" className={`banner ${live.status}`} data-testid="offline-banner">
      {live.status === "connecting"
        ? "Connecting to live updates…"
        : "Offline: live updates paused, reconnecting."}
      {live.detail ? <small> ({live.detail})</small> : null}
    </div>
  );
}

function Shell({ children }: { children: React.ReactNode }) {
  const api = useApi();
  const session = useSession();
  const { isAdmin } = useRole();
  const live = useLive();
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const links: [string, string][] = [
    ["/", "Overview"],
    ["/positions", "Positions"],
    ["/orders", "Orders"],
    ["/strategies", "Strategies"],
    ["/market", "Market"],
    ["/backtests", "Backtests"],
    ["/system", "System"],
    ...(isAdmin ? ([["/users", "Users"]] as [string, string][]) : []),
  ];
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="menu"
          aria-expanded={open}
          aria-controls="nav"
          onClick={() => setOpen(!open)}
        >
          Menu
        </button>
        <strong className="brand">pi5trading</strong>
        <span
          className={`dot ${live.status}`}
          title={`live: ${live.status}`}
          data-testid="live-status"
        >
          {live.status === "open" ? "live" : live.status}
        </span>
        <span className="spacer" />
        <span className="user">
          {session?.user.username} <small className="muted">({session?.user.role})</small>
        </span>
        <button
          type="button"
          onClick={async () => {
            await api.logout();
            navigate("/login");
          }}
        >
          Sign out
        </button>
      </header>
      <nav id="nav" className={open ? "open" : ""} aria-label="Pages">
        <ul>
          {links.map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end={to === "/"} onClick={() => setOpen(false)}>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <ConnectionBanner />
        {children}
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        <NavLink to="/">Back to the overview</NavLink>
      </p>
    </div>
  );
}

/** Every page but the login: one live socket for all of them. */
function Authed() {
  return (
    <RequireAuth>
      <LiveProvider>
        <Shell>
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Outlet />
          </Suspense>
        </Shell>
      </LiveProvider>
    </RequireAuth>
  );
}

export function App() {
  const store = useMemo(() => new SessionStore(), []);
  const api = useMemo(() => createApi({ store }), [store]);
  const queryClient = useMemo(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 5_000,
            // Retry a network or server failure once; a 4xx is an answer.
            retry: (count, error) =>
              !(error instanceof ApiError && error.status < 500) && count < 1,
            refetchOnWindowFocus: true,
          },
        },
      }),
    [],
  );
  return (
    <QueryClientProvider client={queryClient}>
      <ApiProvider api={api}>
        <BrowserRouter>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route element={<Authed />}>
              <Route path="/" element={<OverviewPage />} />
              <Route path="/positions" element={<PositionsPage />} />
              <Route path="/orders" element={<OrdersPage />} />
              <Route path="/strategies" element={<StrategiesPage />} />
              <Route path="/market" element={<MarketPage />} />
              <Route path="/market/:symbol" element={<MarketPage />} />
              <Route path="/backtests" element={<BacktestsPage />} />
              <Route path="/backtests/:id" element={<BacktestResultPage />} />
              <Route path="/system" element={<SystemPage />} />
              <Route path="/users" element={<UsersPage />} />
              <Route path="*" element={<NotFound />} />
            </Route>
          </Routes>
        </BrowserRouter>
      </ApiProvider>
    </QueryClientProvider>
  );
}
