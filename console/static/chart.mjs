// A small SVG bar chart (no library): per bucket, one bar per series. Values are decimal
// strings; bar heights only need display precision, so they are scaled with Number() here
// and nowhere else.
const NS = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

export function barChart({ buckets, series, title }) {
  const width = 760, height = 260, left = 60, bottom = 40, top = 16;
  const max = Math.max(1e-9, ...buckets.flatMap((b) => series.map((s) => Number(b.values[s]) || 0)));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  const t = svg("title"); t.textContent = title; root.append(t);
  const plotH = height - bottom - top;
  const groupW = (width - left - 10) / Math.max(1, buckets.length);
  const barW = Math.max(2, (groupW - 8) / series.length);
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    root.append(svg("line", { x1: left, x2: width - 10, y1: y, y2: y, stroke: "#d0d7de" }));
    const label = svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a" });
    label.textContent = String(Math.round((max * i) / 4 * 100) / 100);
    root.append(label);
  }
  buckets.forEach((b, i) => {
    const x0 = left + i * groupW + 4;
    series.forEach((s, j) => {
      const v = Number(b.values[s]) || 0;
      const h = (plotH * v) / max;
      const rect = svg("rect", { x: x0 + j * barW, y: top + plotH - h, width: barW - 1, height: Math.max(0, h), class: `bar-${s}` });
      const tip = svg("title"); tip.textContent = `${b.label} ${s}: ${b.values[s]}`; rect.append(tip);
      root.append(rect);
    });
    const label = svg("text", { x: x0 + groupW / 2 - 4, y: height - bottom + 16, "text-anchor": "middle", "font-size": 11, fill: "#57606a" });
    label.textContent = b.label;
    root.append(label);
  });
  return root;
}
