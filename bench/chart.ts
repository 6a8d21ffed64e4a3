/** The latency chart: p50 and p99 against the relay rate, one line pair per scenario. */
import { RATES, SOCKETS } from './options.js'
import type { ScenarioResult } from './results.js'

export function svgChart(results: ScenarioResult[]): string {
  const width = 720
  const height = 380
  const pad = { left: 56, right: 230, top: 24, bottom: 44 }
  const rates = results[0]?.rates.map((p) => p.rate) ?? RATES
  const maxRate = Math.max(...rates)
  // Latency on a log scale: p50s sit near 1 ms while saturated p99s reach seconds.
  const decades = [0.1, 1, 10, 100, 1000, 10000]
  const top = decades.find((d) => d >= Math.max(1, ...results.flatMap((r) => r.rates.map((p) => p.relayP99)))) ?? 10000
  const span = Math.log10(top) - Math.log10(0.1)
  const x = (rate: number): number => pad.left + (rate / maxRate) * (width - pad.left - pad.right)
  const y = (ms: number): number =>
    height - pad.bottom - ((Math.log10(Math.max(0.1, ms)) - Math.log10(0.1)) / span) * (height - pad.top - pad.bottom)
  const colors = ['#0b57d0', '#b3261e', '#1e8e3e', '#8430ce']
  const lines = results.flatMap((result, i) =>
    (['relayP50', 'relayP99'] as const).map((key) => {
      const points = result.rates.map((p) => `${x(p.rate).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ')
      const dash = key === 'relayP50' ? '' : ' stroke-dasharray="5 4"'
      return `<polyline fill="none" stroke="${colors[i % colors.length]}" stroke-width="2"${dash} points="${points}"/>`
    })
  )
  const legend = results.map(
    (result, i) =>
      `<text x="${width - pad.right + 10}" y="${pad.top + 16 + i * 36}" fill="${colors[i % colors.length]}" font-size="12">${result.name}</text>` +
      `<text x="${width - pad.right + 10}" y="${pad.top + 30 + i * 36}" fill="#4a5360" font-size="11">solid p50, dashed p99</text>`
  )
  const ticks = rates.map(
    (rate) => `<text x="${x(rate)}" y="${height - pad.bottom + 16}" text-anchor="middle" font-size="11">${rate}</text>`
  )
  const yTicks = decades.filter((ms) => ms <= top).map((ms) => {
    return `<text x="${pad.left - 6}" y="${y(ms) + 4}" text-anchor="end" font-size="11">${ms}</text>` +
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(ms)}" y2="${y(ms)}" stroke="#e3e6ea"/>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${yTicks.join('\n')}
<line x1="${pad.left}" x2="${pad.left}" y1="${pad.top}" y2="${height - pad.bottom}" stroke="#1b1f24"/>
<line x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}" stroke="#1b1f24"/>
${ticks.join('\n')}
<text x="${(pad.left + width - pad.right) / 2}" y="${height - 8}" text-anchor="middle" font-size="12">signals relayed per second (${SOCKETS} sockets connected)</text>
<text x="14" y="${height / 2}" transform="rotate(-90 14 ${height / 2})" text-anchor="middle" font-size="12">relay latency, ms (log scale)</text>
${lines.join('\n')}
${legend.join('\n')}
</svg>
`
}
