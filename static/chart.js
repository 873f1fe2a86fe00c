// A line chart in SVG, of our own: a few series of (x, y) points, y in [0, 1], drawn in their
// order, each on top of the ones before; with no point yet, a line in the plot says so.
// Thousands of points stay fast: each series is reduced to at most two points (the lowest and
// the highest) per horizontal pixel before it is drawn, so the path is never longer than the
// chart is wide, and a redraw is coalesced into the next animation frame.

const NS = "http://www.w3.org/2000/svg";

/** A line's dashes, by its series' `line`: a dotted line stays visible on a solid one it lies
 * on (its round dots, drawn on top, show through the gaps). */
const DASHES = { solid: "none", dashed: "5 4", dotted: "0 5" };

function svg(tag, attributes = {}) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/** Keep, per pixel column, the first, lowest and highest points: the shape survives. */
export function thin(points, xScale, width) {
  if (points.length <= 2 * width) return points;
  const out = [];
  let column = null;
  let low = null;
  let high = null;
  const flush = () => {
    if (low === null) return;
    if (low[0] <= high[0]) out.push(low, high); else out.push(high, low);
  };
  for (const point of points) {
    const c = Math.round(xScale(point[0]));
    if (c !== column) { flush(); column = c; low = high = point; continue; }
    if (point[1] < low[1]) low = point;
    if (point[1] > high[1]) high = point;
  }
  flush();
  return out;
}

export class LineChart {
  /** series: [{name, label?, color, line?: "solid" | "dashed" | "dotted", width?}], drawn in
   * this order (the last on top); the chart fills `container`'s width. `empty`: what the plot
   * says before any point. */
  constructor(container, series, { height = 220, yLabel = "", xLabel = "", empty = "No data yet" } = {}) {
    this.container = container;
    this.series = series.map((s) => ({ line: "solid", width: 2, ...s, points: [] }));
    this.height = height;
    this.margin = { top: 10, right: 12, bottom: 28, left: 44 };
    this.root = svg("svg", { class: "chart", role: "img", "aria-label": yLabel });
    container.replaceChildren(this.root);
    this.xLabel = xLabel;
    this.yLabel = yLabel;
    this.empty = empty;
    this.pending = false;
    this.marks = []; // [{x, label}]: vertical lines, such as a confirmed drift
    this.legend = document.createElement("p");
    this.legend.className = "legend";
    this.legend.append(...this.series.map((s) => {
      const key = document.createElement("span");
      key.style.setProperty("--color", s.color);
      key.style.setProperty("--width", `${s.width}px`);
      key.className = `key ${s.line}`;
      key.textContent = s.label ?? s.name;
      return key;
    }));
    container.append(this.legend);
    new ResizeObserver(() => this.redraw()).observe(container);
  }

  /** New words for the legend (series name -> label), the chart's own label, its x axis's and
   * what it says while empty. */
  relabel(labels, yLabel = this.yLabel, xLabel = this.xLabel, empty = this.empty) {
    this.series.forEach((s, i) => {
      if (labels[s.name]) this.legend.children[i].textContent = s.label = labels[s.name];
    });
    this.yLabel = yLabel;
    this.xLabel = xLabel;
    this.empty = empty;
    this.root.setAttribute("aria-label", yLabel);
    this.redraw();
  }

  set(name, points) {
    this.find(name).points = points.filter((p) => p[1] !== null && p[1] !== undefined);
    this.redraw();
  }

  add(name, point) {
    const series = this.find(name);
    if (point[1] === null || point[1] === undefined) return;
    const last = series.points.at(-1);
    if (last && last[0] === point[0]) series.points[series.points.length - 1] = point;
    else if (!last || point[0] > last[0]) series.points.push(point);
    this.redraw();
  }

  /** Vertical lines at these x values, each with a short label (replaces the earlier ones). */
  mark(marks) {
    this.marks = marks;
    this.redraw();
  }

  find(name) {
    const found = this.series.find((s) => s.name === name);
    if (!found) throw new Error(`no series ${name}`);
    return found;
  }

  get count() {
    return Math.max(0, ...this.series.map((s) => s.points.length));
  }

  redraw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const width = Math.max(200, this.container.clientWidth);
    const { top, right, bottom, left } = this.margin;
    const plotW = width - left - right;
    const plotH = this.height - top - bottom;
    const xs = [...this.series.flatMap((s) => s.points.map((p) => p[0])), ...this.marks.map((m) => m.x)];
    const xMax = Math.max(1, ...xs);
    const x = (value) => left + (value / xMax) * plotW;
    const y = (value) => top + (1 - value) * plotH;
    const nodes = [];
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      nodes.push(svg("line", { x1: left, x2: left + plotW, y1: y(tick), y2: y(tick), class: "grid" }));
      const text = svg("text", { x: left - 6, y: y(tick) + 4, class: "tick", "text-anchor": "end" });
      text.textContent = `${tick * 100}%`;
      nodes.push(text);
    }
    if (this.count) {
      const xText = svg("text", { x: left + plotW, y: this.height - 6, class: "tick x-axis", "text-anchor": "end" });
      // "1 label", "12 label sets".
      xText.textContent = `${xMax.toLocaleString("en")} ${xMax === 1 ? this.xLabel.replace(/s$/, "") : this.xLabel}`;
      nodes.push(xText);
    } else {
      // Not "1 label": the axis's length before any point is no count of anything.
      const empty = svg("text", { x: left + plotW / 2, y: top + plotH / 2, class: "empty", "text-anchor": "middle" });
      empty.textContent = this.empty;
      nodes.push(empty);
    }
    for (const mark of this.marks) {
      nodes.push(svg("line", { x1: x(mark.x), x2: x(mark.x), y1: top, y2: top + plotH, class: "mark", "data-mark": mark.x }));
      const text = svg("text", { x: x(mark.x) + 3, y: top + 10, class: "tick mark-label" });
      text.textContent = mark.label;
      nodes.push(text);
    }
    for (const series of this.series) {
      const points = thin(series.points, x, plotW);
      if (!points.length) continue;
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      nodes.push(svg("path", {
        d, fill: "none", stroke: series.color, "stroke-width": series.width,
        "stroke-dasharray": DASHES[series.line], "stroke-linecap": series.line === "dotted" ? "round" : "butt",
        "data-series": series.name, "data-points": series.points.length,
      }));
      const [lastX, lastY] = series.points.at(-1);
      nodes.push(svg("circle", { cx: x(lastX), cy: y(lastY), r: 3, fill: series.color }));
    }
    this.root.setAttribute("viewBox", `0 0 ${width} ${this.height}`);
    this.root.setAttribute("width", width);
    this.root.setAttribute("height", this.height);
    this.root.replaceChildren(...nodes);
  }
}
