import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { type ConsoleMetrics, consoleMetricsSchema } from "../schemas.js";
import { call } from "./api.js";
import { ms, visible } from "./format.js";
import { useLoad } from "./hooks.js";

/** Lateness p50 / p90 / p99 of one topic over the window, its time series, and the delivered / failed rates. */
export function LatenessPanel(props: { readonly topic: string; readonly minutes: number }) {
  const { data, error } = useLoad(
    async () =>
      consoleMetricsSchema.parse(
        await call(
          "GET",
          `/console/api/metrics?topic=${encodeURIComponent(props.topic)}&minutes=${props.minutes}`,
        ),
      ),
    [props.topic, props.minutes],
  );
  return (
    <section data-testid="lateness-panel">
      <h2>
        Lateness of {visible(props.topic)}, last {props.minutes} min
      </h2>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <div class="stats">
            <Stat label="p50" testid="lateness-p50" value={ms(data.lateness.p50)} />
            <Stat label="p90" testid="lateness-p90" value={ms(data.lateness.p90)} />
            <Stat label="p99" testid="lateness-p99" value={ms(data.lateness.p99)} />
            <Stat label="deliveries measured" testid="lateness-count" value={String(data.lateness.count)} />
            <Stat
              label="delivered / min"
              testid="rate-delivered"
              value={data.rates.delivered_per_minute.toFixed(2)}
            />
            <Stat label="failed / min" testid="rate-failed" value={data.rates.failed_per_minute.toFixed(2)} />
          </div>
          <span hidden data-testid="lateness-raw">
            {JSON.stringify(data.lateness)}
          </span>
          <Chart metrics={data} />
          <p class="hint">
            {data.source === "local"
              ? "Exact nearest-rank percentiles over the local cloud's raw values."
              : "CloudWatch percentile statistics (approximations)."}
          </p>
        </>
      )}
    </section>
  );
}

function Stat(props: { readonly label: string; readonly value: string; readonly testid: string }) {
  return (
    <div class="stat">
      <div class="value" data-testid={props.testid}>
        {props.value}
      </div>
      <div class="label">{props.label}</div>
    </div>
  );
}

function Chart(props: { readonly metrics: ConsoleMetrics }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const series = props.metrics.series;
  const data: uPlot.AlignedData = [
    series.map((p) => p.t),
    series.map((p) => p.p50),
    series.map((p) => p.p90),
    series.map((p) => p.p99),
    series.map((p) => p.delivered),
    series.map((p) => p.failed),
  ];
  useEffect(() => {
    if (!box.current) return;
    if (!plot.current) {
      plot.current = new uPlot(chartOptions(box.current.clientWidth || 800), data, box.current);
    } else plot.current.setData(data);
  });
  useEffect(() => () => plot.current?.destroy(), []);
  return <div ref={box} data-testid="lateness-chart" class="chart" />;
}

function chartOptions(width: number): uPlot.Options {
  const line = (label: string, stroke: string, scale = "ms"): uPlot.Series => ({
    label,
    stroke,
    scale,
    width: 2,
    spanGaps: false,
  });
  return {
    width,
    height: 220,
    scales: { x: { time: true } },
    axes: [
      {},
      { scale: "ms", label: "lateness (ms)" },
      { scale: "n", side: 1, label: "tasks / min", grid: { show: false } },
    ],
    series: [
      {},
      line("p50", "#2b7a78"),
      line("p90", "#e0a800"),
      line("p99", "#c0392b"),
      { ...line("delivered", "#7f8c8d", "n"), dash: [4, 4] },
      { ...line("failed", "#8e44ad", "n"), dash: [2, 2] },
    ],
  };
}
