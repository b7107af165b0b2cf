import { useQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { useNavigate, useParams } from "react-router";
import { unwrap } from "../api/client";
import { useApi } from "../auth";
import { type Candle, PriceChart, sma } from "../components/charts";
import { Card, ErrorBox, Loading, Money, Time } from "../components/ui";
import { useLive } from "../live/LiveProvider";
import { useFills, useInstruments } from "../queries";

const INTERVALS = ["1m", "5m", "15m", "30m", "1h", "1d"];

export function MarketPage() {
  const { client } = useApi();
  const params = useParams();
  const navigate = useNavigate();
  const instruments = useInstruments();
  const symbols = instruments.data?.map((i) => i.symbol) ?? [];
  const symbol = params.symbol ?? symbols[0] ?? "";
  const [interval, setInterval] = useState("1m");
  const [period, setPeriod] = useState(20);
  const [search, setSearch] = useState("");
  const live = useLive();
  const bars = useQuery({
    queryKey: ["bars", symbol, interval],
    enabled: !!symbol,
    queryFn: () =>
      unwrap(
        client.GET("/api/v1/market/bars/{symbol}", {
          params: { path: { symbol }, query: { interval, limit: 500 } },
        }),
      ),
  });
  const fills = useFills(200);
  const [liveState, setLiveBars] = useState<{ key: string; bars: Candle[] }>({ key: "", bars: [] });
  const key = `${symbol}/${interval}`;
  const liveBars = liveState.key === key ? liveState.bars : [];
  // New bars from the socket (interval 1m) are appended without a refetch.
  const lastBar = live.events.find(
    (e) => e.type === "bar" && e.symbol === symbol && e.interval === interval,
  );
  useEffect(() => {
    if (!lastBar) return;
    const k: Candle = {
      time: String(lastBar.ts),
      open: Number(lastBar.open),
      high: Number(lastBar.high),
      low: Number(lastBar.low),
      close: Number(lastBar.close),
      volume: Number(lastBar.volume),
    };
    setLiveBars((st) => ({ key, bars: [...(st.key === key ? st.bars : []).slice(-200), k] }));
  }, [lastBar, key]);
  const candles = useMemo<Candle[]>(
    () => [
      ...(bars.data ?? []).map((b) => ({
        time: b.at,
        open: Number(b.open),
        high: Number(b.high),
        low: Number(b.low),
        close: Number(b.close),
        volume: Number(b.volume),
      })),
      ...liveBars,
    ],
    [bars.data, liveBars],
  );
  const overlay = useMemo(
    () => ({
      name: `SMA ${period}`,
      points: sma(
        candles.map((c) => ({ time: c.time, value: c.close })),
        period,
      ),
    }),
    [candles, period],
  );
  const markers = useMemo(
    () =>
      (fills.data?.items ?? [])
        .filter((f) => f.symbol === symbol)
        .map((f) => ({
          time: f.at,
          side: f.side as "buy" | "sell",
          text: `${f.side} ${f.quantity}`,
        })),
    [fills.data, symbol],
  );
  const price = live.prices[symbol];
  const matches = symbols.filter((s) => s.toLowerCase().includes(search.toLowerCase()));
  return (
    <div className="page">
      <h1>Market</h1>
      <div className="row wrap">
        <div className="field">
          <label htmlFor="m-search">Symbol search</label>
          <input
            id="m-search"
            list="m-symbols"
            value={search}
            placeholder={symbol}
            onChange={(e) => {
              setSearch(e.target.value);
              const exact = symbols.find((s) => s.toLowerCase() === e.target.value.toLowerCase());
              if (exact) navigate(`/market/${exact}`);
            }}
          />
          <datalist id="m-symbols">
            {matches.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
        </div>
        <div className="field">
          <label htmlFor="m-symbol">Symbol</label>
          <select
            id="m-symbol"
            value={symbol}
            onChange={(e) => navigate(`/market/${e.target.value}`)}
          >
            {symbols.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="m-interval">Interval</label>
          <select id="m-interval" value={interval} onChange={(e) => setInterval(e.target.value)}>
            {INTERVALS.map((i) => (
              <option key={i}>{i}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="m-sma">SMA period</label>
          <input
            id="m-sma"
            type="number"
            min={2}
            max={200}
            value={period}
            onChange={(e) => setPeriod(Math.max(2, Math.min(200, Number(e.target.value) || 20)))}
          />
        </div>
      </div>
      <Card
        title={
          <>
            {symbol}{" "}
            <span data-testid="market-price">
              <Money value={price?.price} />
            </span>
          </>
        }
        actions={
          price ? (
            <small className="muted">
              bid <Money value={price.bid} /> · ask <Money value={price.ask} /> ·{" "}
              <Time value={price.at} />
            </small>
          ) : null
        }
      >
        <ErrorBox error={bars.error} />
        {bars.isPending ? <Loading what="Loading bars" /> : null}
        <PriceChart
          candles={candles}
          overlay={overlay}
          markers={markers}
          label={`${symbol} candles, volume, SMA and our fills`}
        />
        <p className="muted small">
          Candles with volume; the line is the SMA({period}) of the closes; arrows are our fills.
          Charts by TradingView lightweight-charts.
        </p>
      </Card>
    </div>
  );
}
