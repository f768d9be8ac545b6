/**
 * Turns measurements into figures (GFLOP/s, GB/s, shares of the probed peaks, ratios to peers,
 * targets met), a table for the terminal and a JSON document for files.
 */
import type { AdapterReport } from "../kernels/gpu.ts";
import { ranOnLine } from "../pipeline/report/ran_on.ts";
import type { Target } from "./case.ts";
import type { Measured, Timing } from "./measure.ts";
import type { Probes } from "./probes.ts";

export interface CaseFigures {
  group: string;
  name: string;
  shape: string;
  flops: number;
  bytes: number;
  ours: (Timing & { gflops: number; gbps: number; fmaShare: number; bandwidthShare: number }) | { error: string };
  peer?: { name: string } & (Timing | { error: string });
  /** Peer time over ours: above 1, ours is faster. */
  ratio?: number;
  target?: Target & { met: boolean };
}

export interface BenchReport {
  date: string;
  deno: typeof Deno.version;
  /** The adapter, the WebGPU backend and how it was chosen, the driver: every figure depends on them. */
  adapter: AdapterReport;
  /** How `ms` was measured for our cases: GPU timestamps, or wall clock where not offered. */
  timing: string;
  runs: number;
  probes: Probes;
  cases: CaseFigures[];
}

/** The figures of every case. */
export function figures(measured: Measured[], probes: Probes): CaseFigures[] {
  return measured.map(({ case: c, ours, peer }) => {
    const common = { group: c.group, name: c.name, shape: c.shape, flops: c.flops, bytes: c.bytes, peer };
    if ("error" in ours) return { ...common, ours };
    const gflops = c.flops / ours.ms / 1e6, gbps = c.bytes / ours.ms / 1e6;
    const fmaShare = gflops / probes.fmaGflops;
    const out: CaseFigures = {
      ...common,
      ours: { ...ours, gflops, gbps, fmaShare, bandwidthShare: gbps / probes.kernelGbps },
    };
    if (peer && !("error" in peer)) out.ratio = peer.ms / ours.ms;
    if (c.target) {
      const met = "peerRatio" in c.target ? (out.ratio ?? 0) >= c.target.peerRatio : fmaShare >= c.target.fmaShare;
      out.target = { ...c.target, met };
    }
    return out;
  });
}

const fixed = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : "-");
const percent = (v: number) => `${(100 * v).toFixed(0)}%`;

/** The table printed on the terminal. */
export function table(report: BenchReport): string {
  const p = report.probes;
  const head = [
    `ran on ${ranOnLine(report.adapter)}; Deno ${report.deno.deno}, ${report.date}`,
    `timing: ${report.timing}, best of ${report.runs} after a warm-up, peers interleaved with ours`,
    `probed peaks: fma ${fixed(p.fmaGflops)} GFLOP/s; kernel memory ${fixed(p.kernelGbps)} GB/s (read ${
      fixed(p.readGbps)
    }, copy ${fixed(p.copyGbps)}); copy engine ${fixed(p.copyEngineGbps)} GB/s`,
    "",
  ];
  const rows = [["case", "shape", "ms", "GFLOP/s", "%fma", "GB/s", "%bw", "peer", "peer ms", "ratio", "target"]];
  for (const c of report.cases) {
    const name = `${c.group}: ${c.name}`;
    if ("error" in c.ours) {
      rows.push([name, c.shape, `error: ${c.ours.error}`, "", "", "", "", "", "", "", ""]);
      continue;
    }
    const o = c.ours;
    const peer = c.peer
      ? ("error" in c.peer ? [c.peer.name, `error: ${c.peer.error}`] : [c.peer.name, fixed(c.peer.ms)])
      : ["", ""];
    const target = c.target
      ? `${"peerRatio" in c.target ? `>= ${c.target.peerRatio}x` : `>= ${percent(c.target.fmaShare)} fma`} ${
        c.target.met ? "met" : "MISSED"
      }`
      : "";
    rows.push([
      name,
      c.shape,
      fixed(o.ms),
      c.flops ? fixed(o.gflops, 2) : "-",
      c.flops ? percent(o.fmaShare) : "-",
      fixed(o.gbps, 2),
      percent(o.bandwidthShare),
      ...peer,
      c.ratio === undefined ? "" : `${fixed(c.ratio, 2)}x`,
      target,
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r.map((v, i) => (i < 2 || i === 7 || i === 10 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join("  ");
  return [...head, line(rows[0]), ...rows.slice(1).map(line)].join("\n");
}
