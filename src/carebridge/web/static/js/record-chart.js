// Draws one kind's series on a record page with uPlot (vendored from npm): the mean of each
// bucket as a line, the lowest and highest as a band, the normal range shaded behind, and for
// a blood pressure the diastolic values as a second line and band. The series comes from the
// JSON the page embeds (<script type="application/json">): no call to the API from here.
import uPlot from "../vendor/uplot/uPlot.esm.js";

const COLOURS = {
  first: { line: "#0f766e", band: "rgba(15, 118, 110, 0.15)" },
  second: { line: "#7c3aed", band: "rgba(124, 58, 237, 0.12)" },
  normal: "rgba(22, 163, 74, 0.10)",
};

function columns(points, second) {
  const x = points.map((p) => Date.parse(p.starts_at) / 1000);
  const data = [x, points.map((p) => p.mean), points.map((p) => p.min), points.map((p) => p.max)];
  if (second) {
    data.push(points.map((p) => p.mean2), points.map((p) => p.min2), points.map((p) => p.max2));
  }
  return data;
}

function lines(label, second) {
  const one = (name, colour, width) => ({ label: name, stroke: colour, width, points: { show: true } });
  const edge = (name, colour) => ({ label: name, stroke: colour, width: 0, points: { show: false } });
  const first = second ? "Systolic" : label;
  const series = [
    {},
    one(`${first} (mean)`, COLOURS.first.line, 2),
    edge(`${first} (lowest)`, COLOURS.first.line),
    edge(`${first} (highest)`, COLOURS.first.line),
  ];
  if (second) {
    series.push(
      one("Diastolic (mean)", COLOURS.second.line, 2),
      edge("Diastolic (lowest)", COLOURS.second.line),
      edge("Diastolic (highest)", COLOURS.second.line),
    );
  }
  return series;
}

// The normal range (and the diastolic one) shaded across the plot, under the series.
function shadeNormal(ranges) {
  return (u) => {
    const { ctx, bbox } = u;
    ctx.save();
    ctx.fillStyle = COLOURS.normal;
    for (const range of ranges) {
      if (!range || (range.normal_low === null && range.normal_high === null)) continue;
      const [min, max] = [u.scales.y.min, u.scales.y.max];
      const low = range.normal_low ?? min;
      const high = range.normal_high ?? max;
      const top = u.valToPos(Math.min(high, max), "y", true);
      const bottom = u.valToPos(Math.max(low, min), "y", true);
      if (bottom > top) ctx.fillRect(bbox.left, top, bbox.width, bottom - top);
    }
    ctx.restore();
  };
}

function yRange(series, data) {
  return (u, min, max) => {
    const bounds = [series.ranges, series.second_ranges]
      .filter(Boolean)
      .flatMap((r) => [r.normal_low, r.normal_high])
      .filter((v) => v !== null && v !== undefined);
    const values = data.slice(1).flat().filter((v) => v !== null && v !== undefined);
    const all = [...values, ...bounds];
    const low = Math.min(...all);
    const high = Math.max(...all);
    const pad = (high - low) * 0.1 || Math.abs(high) * 0.1 || 1;
    return [low - pad, high + pad];
  };
}

function draw(container) {
  const source = document.getElementById(container.dataset.seriesSource);
  if (!source) return;
  const series = JSON.parse(source.textContent);
  if (!series.points.length) return;
  const second = series.second_ranges !== null && series.points.some((p) => p.mean2 !== null);
  const data = columns(series.points, second);
  const bands = [{ series: [3, 2], fill: COLOURS.first.band }];
  if (second) bands.push({ series: [6, 5], fill: COLOURS.second.band });
  const width = () => Math.max(container.clientWidth, 280);
  const options = {
    width: width(),
    height: 260,
    series: lines(series.label, second),
    bands,
    scales: {
      x: { time: true, range: () => [Date.parse(series.since) / 1000, Date.parse(series.until) / 1000] },
      y: { range: yRange(series, data) },
    },
    axes: [{}, { label: series.unit, size: 56 }],
    legend: { show: false }, // the page's caption says what is drawn
    hooks: { drawClear: [shadeNormal([series.ranges, second ? series.second_ranges : null])] },
  };
  const chart = new uPlot(options, data, container);
  container.dataset.drawn = "true";
  new ResizeObserver(() => chart.setSize({ width: width(), height: 260 })).observe(container);
}

for (const container of document.querySelectorAll("[data-series-source]")) draw(container);
