/**
 * Progress bars on stderr (cli-progress): count, rate and ETA. Silent when stderr is not a
 * terminal, or when asked to be (--json), so logs and pipes stay clean.
 */
import cliProgress from "cli-progress";
import process from "node:process";

/** A running bar. */
export interface Progress {
  update(done: number, fields?: Record<string, string>): void;
  stop(): void;
}

/** A bar that shows nothing. */
export const SILENT: Progress = { update() {}, stop() {} };

/** Starts a bar for `total` items of a named stage. `fields` appear after the ETA. */
export function startProgress(
  label: string,
  total: number,
  options: { quiet?: boolean; fields?: string[] } = {},
): Progress {
  if (options.quiet || !Deno.stderr.isTerminal()) return SILENT;
  const extra = (options.fields ?? []).map((f) => ` ${f} {${f}}`).join("");
  const bar = new cliProgress.SingleBar({
    format: `${label.padEnd(12)} |{bar}| {value}/{total} {rate}/s eta {eta_formatted}${extra}`,
    stream: process.stderr,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  const started = performance.now();
  const blank = Object.fromEntries((options.fields ?? []).map((f) => [f, "-"]));
  bar.start(total, 0, { rate: "-", ...blank });
  return {
    update(done, fields = {}) {
      const seconds = (performance.now() - started) / 1000;
      bar.update(done, { rate: seconds > 0 ? (done / seconds).toFixed(1) : "-", ...fields });
    },
    stop() {
      bar.stop();
    },
  };
}
