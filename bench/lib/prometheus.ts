/**
 * scrapeMetrics fetches a Prometheus text exposition and returns `series → value`, where a series
 * is written as in the exposition (`name{label="v",…}`). Throws when the endpoint does not answer 200.
 */
export async function scrapeMetrics(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    if (space > 0) series.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return series;
}

/** sumSeries adds the values of every series of metric `name` carrying all of `labels`. */
export function sumSeries(series: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of series) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([label, v]) => key.includes(`${label}="${v}"`))) sum += value;
  }
  return sum;
}
