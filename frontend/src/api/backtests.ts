// Backtest jobs: the generated schema's types under short names.
import type { components } from "./schema";

export type BacktestJob = components["schemas"]["BacktestJob"];
export type BacktestOptions = components["schemas"]["BacktestOptions"];
export type BacktestResult = components["schemas"]["BacktestResultOut"];
export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

export const FINISHED: string[] = ["done", "failed", "cancelled"];
