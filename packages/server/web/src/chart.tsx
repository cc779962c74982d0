import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface Series {
  label: string;
  color: string;
  /** Which y axis: 0 left, 1 right. */
  scale?: 0 | 1;
}

/**
 * A line chart of time series (uPlot). `x` is seconds since epoch; each of `ys` matches `series`.
 * It follows its container's width, so it fits a phone as well as a laptop.
 */
export function Chart({
  title,
  series,
  x,
  ys,
  units,
  gaps = 0,
}: {
  title: string;
  /** How many gaps (nulls) the series hold: told to assistive technology, and to tests. */
  gaps?: number;
  series: Series[];
  x: number[];
  ys: (number | null)[][];
  units: [string, string?];
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // Built once; data flows in through setData below.
  useEffect(() => {
    const element = box.current!;
    const scales = ['y0', 'y1'];
    const options: uPlot.Options = {
      width: element.clientWidth || 600,
      height: 220,
      legend: { live: false },
      scales: {
        x: { time: true },
        y0: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
        y1: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
      },
      axes: [
        { stroke: '#374151', grid: { stroke: '#e5e7eb' } },
        { scale: 'y0', label: units[0], stroke: '#374151', grid: { stroke: '#e5e7eb' } },
        ...(units[1] ? [{ scale: 'y1', label: units[1], side: 1, stroke: '#374151', grid: { show: false } }] : []),
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          scale: scales[s.scale ?? 0],
          points: { show: false },
          // A null is a gap: no line is drawn across a time without samples.
          spanGaps: false,
        })),
      ],
    };
    plot.current = new uPlot(options, [x, ...ys] as uPlot.AlignedData, element);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData([x, ...ys] as uPlot.AlignedData);
  }, [x, ys]);

  return <div class="chart" ref={box} role="img" aria-label={title} data-gaps={gaps} />;
}
