// A grouped bar chart as a standalone SVG document: one group of bars per category, one bar per
// series, each labelled with its value, two lines of label under each group, a y axis from 0 with round ticks, and a legend.
// A group without any figure (e.g. a phase that has no rate) is left out.

export interface BarChart {
  title: string;
  /** A second line under the title (date, load average), or ''. */
  subtitle: string;
  /** The y axis label, e.g. "msg/s". */
  unit: string;
  series: string[];
  /** values[i] belongs to series[i]; null or NaN draws no bar (the series has no figure there). */
  groups: { label: string; sublabel: string; values: (number | null)[] }[];
}

const COLORS = ['#d1495b', '#00798c', '#edae49', '#30638e', '#66a182', '#8d96a3'];
const BAR = 26;
const GROUP_GAP = 36;
const LEFT = 70;
const TOP = 70;
const PLOT_HEIGHT = 300;
const BOTTOM = 76;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Axis tops, × a power of ten: their fifths (the ticks) are round numbers too. */
const NICE = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];

/** The smallest NICE × 10^k at or above max (1 for an empty or all-zero chart). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of NICE) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

/** 12 → "12", 12345 → "12.3k", 2500000 → "2.5M". */
export function shortNumber(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

const drawn = (v: number | null): v is number => v !== null && Number.isFinite(v);

export function barChartSvg(input: BarChart): string {
  const chart = { ...input, groups: input.groups.filter((g) => g.values.some(drawn)) };
  const n = chart.series.length;
  const groupWidth = Math.max(1, n) * BAR + GROUP_GAP;
  const plotWidth = Math.max(1, chart.groups.length) * groupWidth;
  const width = LEFT + plotWidth + 20;
  const height = TOP + PLOT_HEIGHT + BOTTOM;
  const values = chart.groups.flatMap((g) => g.values.filter(drawn));
  const top = niceMax(Math.max(0, ...values));
  const y = (v: number) => TOP + PLOT_HEIGHT - (Math.max(0, v) / top) * PLOT_HEIGHT;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`);
  if (chart.subtitle !== '') out.push(`<text x="${LEFT}" y="37" fill="#555">${escapeXml(chart.subtitle)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (top * i) / 5;
    out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end">${shortNumber(v)}</text>`);
  }
  out.push(`<text transform="translate(16 ${TOP + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.unit)}</text>`);
  chart.groups.forEach((g, gi) => {
    const x0 = LEFT + gi * groupWidth + GROUP_GAP / 2;
    g.values.forEach((v, si) => {
      if (!drawn(v)) return;
      const x = x0 + si * BAR;
      out.push(`<rect x="${x}" y="${y(v)}" width="${BAR - 2}" height="${TOP + PLOT_HEIGHT - y(v)}" fill="${COLORS[si % COLORS.length]}"><title>${escapeXml(`${chart.series[si]} ${g.label}: ${Math.round(v)} ${chart.unit}`)}</title></rect>`);
      out.push(`<text x="${x + (BAR - 2) / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="9">${shortNumber(v)}</text>`);
    });
    out.push(`<text x="${x0 + (n * BAR) / 2}" y="${TOP + PLOT_HEIGHT + 16}" text-anchor="middle">${escapeXml(g.label)}</text>`);
    out.push(`<text x="${x0 + (n * BAR) / 2}" y="${TOP + PLOT_HEIGHT + 30}" text-anchor="middle" fill="#555">${escapeXml(g.sublabel)}</text>`);
  });
  out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${TOP + PLOT_HEIGHT}" y2="${TOP + PLOT_HEIGHT}" stroke="#333"/>`);
  chart.series.forEach((s, si) => {
    const x = LEFT + si * 110;
    const ly = TOP + PLOT_HEIGHT + 56;
    out.push(`<rect x="${x}" y="${ly - 9}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/>`);
    out.push(`<text x="${x + 14}" y="${ly}">${escapeXml(s)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
