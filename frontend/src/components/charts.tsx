// TradingView lightweight-charts (its attribution logo stays on) for every time series:
// price candles with volume, indicator overlays and our fills as markers; equity and drawdown.
import {
  type CandlestickData,
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  type IChartApi,
  type ISeriesApi,
  type LineData,
  LineSeries,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";

export const ts = (iso: string): UTCTimestamp =>
  Math.floor(new Date(iso).getTime() / 1000) as UTCTimestamp;

function colors() {
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  return dark
    ? {
        bg: "#111418",
        text: "#d6dbe1",
        grid: "#23282f",
        up: "#26a69a",
        down: "#ef5350",
        line: "#4ea1ff",
      }
    : {
        bg: "#ffffff",
        text: "#1f2328",
        grid: "#eef0f3",
        up: "#138a6e",
        down: "#c62828",
        line: "#1565c0",
      };
}

function useChart() {
  const ref = useRef<HTMLDivElement | null>(null);
  const chartRef = useRef<IChartApi | null>(null);
  useEffect(() => {
    if (!ref.current) return;
    const c = colors();
    // autoSize takes width and height from the container, whose height is set (style):
    // without it the chart and its container grow each other forever.
    const chart = createChart(ref.current, {
      autoSize: true,
      layout: { background: { color: c.bg }, textColor: c.text, attributionLogo: true },
      grid: { vertLines: { color: c.grid }, horzLines: { color: c.grid } },
      timeScale: { timeVisible: true, secondsVisible: false },
      localization: {
        timeFormatter: (t: Time) => new Date(Number(t) * 1000).toLocaleString(),
      },
    });
    chartRef.current = chart;
    // Follow the system's theme when it changes while the page is open.
    const media = window.matchMedia?.("(prefers-color-scheme: dark)");
    const retheme = () => {
      const t = colors();
      chart.applyOptions({
        layout: { background: { color: t.bg }, textColor: t.text },
        grid: { vertLines: { color: t.grid }, horzLines: { color: t.grid } },
      });
    };
    media?.addEventListener?.("change", retheme);
    return () => {
      media?.removeEventListener?.("change", retheme);
      chartRef.current = null;
      chart.remove();
    };
  }, []);
  return { ref, chartRef };
}

export interface Candle {
  time: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface Marker {
  time: string;
  side: "buy" | "sell";
  text: string;
}

/** Keep one point per time (the last), sorted: what the library wants. */
/** Times from 2000 on (a missing time parses as 1970). */
export function plausible(iso: string): boolean {
  return new Date(iso).getTime() > 946_684_800_000;
}

function dedupe<T extends { time: UTCTimestamp }>(rows: T[]): T[] {
  const by = new Map<number, T>();
  // 2000-01-01 and later only: a missing time parses as 1970 and would stretch the axis.
  for (const r of rows) if (Number.isFinite(r.time) && r.time > 946_684_800) by.set(r.time, r);
  return [...by.values()].sort((a, b) => a.time - b.time);
}

export function PriceChart({
  candles,
  overlay,
  markers,
  height = 380,
  label,
}: {
  candles: Candle[];
  overlay?: { name: string; points: { time: string; value: number }[] };
  markers?: Marker[];
  height?: number;
  label: string;
}) {
  const { ref, chartRef } = useChart();
  const fitted = useRef(false);
  const series = useRef<{
    candles: ISeriesApi<"Candlestick">;
    volume: ISeriesApi<"Histogram">;
    overlay: ISeriesApi<"Line">;
    markers: ReturnType<typeof createSeriesMarkers<Time>>;
  } | null>(null);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    const c = colors();
    const cs = chart.addSeries(CandlestickSeries, {
      upColor: c.up,
      downColor: c.down,
      borderVisible: false,
      wickUpColor: c.up,
      wickDownColor: c.down,
    });
    const vs = chart.addSeries(HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "",
    });
    vs.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    const os = chart.addSeries(LineSeries, {
      color: c.line,
      lineWidth: 2,
      priceLineVisible: false,
    });
    series.current = { candles: cs, volume: vs, overlay: os, markers: createSeriesMarkers(cs, []) };
    return () => {
      series.current = null;
    };
  }, [chartRef]);

  useEffect(() => {
    const s = series.current;
    if (!s) return;
    const c = colors();
    const data: CandlestickData<UTCTimestamp>[] = dedupe(
      candles.map((k) => ({
        time: ts(k.time),
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
      })),
    );
    s.candles.setData(data);
    s.volume.setData(
      dedupe(
        candles.map((k) => ({
          time: ts(k.time),
          value: k.volume,
          color: k.close >= k.open ? `${c.up}66` : `${c.down}66`,
        })),
      ),
    );
    s.overlay.setData(
      dedupe((overlay?.points ?? []).map((p) => ({ time: ts(p.time), value: p.value }))),
    );
    const first = data[0]?.time ?? 0;
    const ms: SeriesMarker<Time>[] = (markers ?? [])
      .map((m) => ({
        time: ts(m.time),
        position: m.side === "buy" ? ("belowBar" as const) : ("aboveBar" as const),
        color: m.side === "buy" ? c.up : c.down,
        shape: m.side === "buy" ? ("arrowUp" as const) : ("arrowDown" as const),
        text: m.text,
      }))
      .filter((m) => m.time >= first)
      .sort((a, b) => a.time - b.time);
    s.markers.setMarkers(ms);
    // Fit once, when the first bars arrive; later the user's zoom and scroll stay.
    if (data.length && !fitted.current) {
      fitted.current = true;
      chartRef.current?.timeScale().fitContent();
    }
  }, [candles, overlay, markers, chartRef]);

  return <div ref={ref} className="chart" style={{ height }} role="img" aria-label={label} />;
}

export function LineChart({
  points,
  height = 220,
  label,
  color,
}: {
  points: { time: string; value: number }[];
  height?: number;
  label: string;
  color?: string;
}) {
  const { ref, chartRef } = useChart();
  const series = useRef<ISeriesApi<"Line"> | null>(null);
  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    series.current = chart.addSeries(LineSeries, { color: color ?? colors().line, lineWidth: 2 });
    return () => {
      series.current = null;
    };
  }, [chartRef, color]);
  useEffect(() => {
    const data: LineData<UTCTimestamp>[] = dedupe(
      points.map((p) => ({ time: ts(p.time), value: p.value })),
    );
    series.current?.setData(data);
    chartRef.current?.timeScale().fitContent();
  }, [points, chartRef]);
  return <div ref={ref} className="chart" style={{ height }} role="img" aria-label={label} />;
}

/** Simple moving average of closes (client-side overlay). */
export function sma(closes: { time: string; value: number }[], period: number) {
  const out: { time: string; value: number }[] = [];
  let sum = 0;
  for (let i = 0; i < closes.length; i++) {
    sum += closes[i]?.value ?? 0;
    if (i >= period) sum -= closes[i - period]?.value ?? 0;
    if (i >= period - 1) out.push({ time: closes[i]?.time ?? "", value: sum / period });
  }
  return out;
}

/** Drawdown (fraction below the running peak, <= 0) of an equity series. */
export function drawdown(points: { time: string; value: number }[]) {
  let peak = Number.NEGATIVE_INFINITY;
  return points.map((p) => {
    peak = Math.max(peak, p.value);
    return { time: p.time, value: peak > 0 ? (p.value - peak) / peak : 0 };
  });
}
