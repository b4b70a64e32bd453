import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChartSvg, escapeXml, niceMax, shortNumber } from '../../../bench/e2e/bar-chart-svg.js';

test('niceMax rounds up to a round number whose fifths are round too', () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(7), 8);
  assert.equal(niceMax(10), 10);
  assert.equal(niceMax(12_101), 15_000);
  assert.equal(niceMax(21_913), 25_000);
  assert.equal(niceMax(23_753), 25_000);
  assert.equal(niceMax(81), 100);
});

test('shortNumber abbreviates thousands and millions', () => {
  assert.equal(shortNumber(812), '812');
  assert.equal(shortNumber(12_101), '12.1k');
  assert.equal(shortNumber(20_000), '20k');
  assert.equal(shortNumber(2_500_000), '2.5M');
});

test('escapeXml escapes markup characters', () => {
  assert.equal(escapeXml('a<b & "c">\''), 'a&#60;b &#38; &#34;c&#34;&#62;&#39;');
});

const chart = {
  title: 'Forge & peers',
  subtitle: 'load <5>',
  unit: 'msg/s',
  series: ['forge', 'rabbitmq'],
  groups: [
    { label: 'put', sublabel: '16 in flight', values: [3000, 6000] },
    { label: 'consume max=256', sublabel: '16 in flight', values: [15000, null] },
  ],
};

test('the chart draws one bar per figure, none for a missing one, heights proportional to the values', () => {
  const svg = barChartSvg(chart);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="24" height="([\d.]+)"/g)].map((m) => Number(m[2]));
  assert.equal(bars.length, 3);
  // The axis tops at 15k: 3000 → 1/5 of the 300 px plot, 6000 → 2/5, 15000 → all of it.
  assert.deepEqual(bars, [60, 120, 300]);
  assert.match(svg, />15k</);
});

test('the chart escapes its texts and names every series in the legend', () => {
  const svg = barChartSvg(chart);
  assert.ok(svg.includes('Forge &#38; peers'));
  assert.ok(svg.includes('load &#60;5&#62;'));
  assert.ok(!svg.includes('load <5>'));
  for (const s of chart.series) assert.match(svg, new RegExp(`>${s}</text>`));
  assert.match(svg, />consume max=256<\/text>/);
  assert.match(svg, />16 in flight<\/text>/);
});

test('an empty chart still renders a document', () => {
  const svg = barChartSvg({ title: 't', subtitle: '', unit: 'u', series: [], groups: [] });
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
});

test('a group without any figure (a phase with no rate) takes no place in the chart', () => {
  const withLongPoll = { ...chart, groups: [...chart.groups, { label: 'long poll', sublabel: '1 in flight', values: [NaN, null] }] };
  const svg = barChartSvg(withLongPoll);
  assert.equal(svg, barChartSvg(chart));
  assert.ok(!svg.includes('long poll'));
});
