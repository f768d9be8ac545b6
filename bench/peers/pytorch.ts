/**
 * PyTorch on the CPU (Debian's python3-torch, every core) as a peer for a torchvision family's
 * forward + backward: tests/torchvision_families.py `serve` builds the same model with the same
 * seeded weights as the ONNX file the executor runs, and times one pass of the input gradient of
 * the mean cross-entropy (parameters frozen, as the audit's attacks and saliency take it) per
 * request. Its time is the wall-clock time of that pass inside Python.
 */
import type { Runner } from "../case.ts";

const SCRIPT = new URL("../../tests/torchvision_families.py", import.meta.url).pathname;

/** Lines of a child's stdout, one at a time. */
class LineReader {
  #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }

  async next(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`PyTorch peer exited${this.#buffer ? `: ${this.#buffer}` : ""}`);
      this.#buffer += value;
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }
}

/** A runner for PyTorch's forward + input-gradient backward of `family` (full scale) at `batch`. */
export async function pytorchRunner(family: string, batch: number): Promise<Runner & { threads: number }> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [SCRIPT, "serve", "full", family, String(batch)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = new LineReader(child.stdout);
  const writer = child.stdin.getWriter();
  const { threads } = JSON.parse(await lines.next()) as { threads: number };
  return {
    threads,
    async run() {
      await writer.write(new TextEncoder().encode("run\n"));
      const ms = Number(await lines.next());
      return { ms, wallMs: ms };
    },
    [Symbol.dispose]() {
      // Closing stdin ends the serve loop; the process then exits on its own.
      writer.close().catch(() => {});
    },
  };
}
