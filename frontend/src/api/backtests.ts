// Backtest jobs (the contract in docs/dashboard.md; routes from the API's jobs branch).
// Hand-written types until those routes are in the generated schema.
export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export interface BacktestJob {
  id: string;
  status: JobStatus;
  strategy: string;
  params: Record<string, unknown>;
  data: string;
  progress: number;
  bars_done: number;
  bars_total: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  run_id: string | null;
  summary: {
    total_return: string;
    max_drawdown: string;
    sharpe: string | null;
    trades: number;
    win_rate: string | null;
    final_equity: string;
  } | null;
  submitted_by: string;
}

export interface BacktestOptions {
  strategies: string[];
  data: {
    source: string;
    symbol: string;
    interval: string;
    first: string;
    last: string;
    bars: number;
  }[];
  max_bars: number;
}

export interface BacktestResult {
  job: BacktestJob;
  metrics: Record<string, string>;
  equity: { time: string; equity: string; drawdown: string }[];
  trades: {
    symbol: string;
    side: string;
    quantity: string;
    entry_time: string;
    entry_price: string;
    exit_time: string;
    exit_price: string;
    pnl: string;
    return: string;
  }[];
  price: { time: string; open: string; high: string; low: string; close: string; volume: string }[];
}

export const FINISHED: JobStatus[] = ["done", "failed", "cancelled"];
