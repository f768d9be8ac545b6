/**
 * Times GPU work recorded through the runtime: one command encoder per run, submitted and awaited
 * (`onSubmittedWorkDone`), with timestamp queries around the work where the device has the
 * feature, so the figure is the GPU's own time and not the submission latency (about 12 ms per
 * round trip on llvmpipe). Nothing is read back but the two timestamps.
 */
import type { Gpu, Step } from "../kernels/gpu.ts";
import type { Sample } from "./case.ts";

export class GpuTimer implements Disposable {
  readonly method: "timestamp-query" | "wall clock";
  #queries: { set: GPUQuerySet; resolve: GPUBuffer; read: GPUBuffer } | null = null;

  constructor(private readonly gpu: Gpu) {
    const device = gpu.device;
    if (device.features.has("timestamp-query")) {
      this.#queries = {
        set: device.createQuerySet({ type: "timestamp", count: 2 }),
        resolve: device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }),
        read: device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }),
      };
    }
    this.method = this.#queries ? "timestamp-query" : "wall clock";
  }

  /**
   * Records `work` into one step, submits it and waits for it. Whatever `work` returns is
   * disposed once the GPU is done (tensors a forward pass allocated, say).
   */
  async time(work: (step: Step) => Disposable | void): Promise<Sample> {
    const q = this.#queries;
    let owned: Disposable | void = undefined;
    const start = performance.now();
    await this.gpu.run((step) => {
      if (q) step.timestamp(q.set, 0);
      owned = work(step);
      if (q) {
        step.timestamp(q.set, 1);
        step.encoder.resolveQuerySet(q.set, 0, 2, q.resolve, 0);
        step.encoder.copyBufferToBuffer(q.resolve, 0, q.read, 0, 16);
      }
    });
    await this.gpu.sync();
    const wallMs = performance.now() - start;
    (owned as Disposable | void)?.[Symbol.dispose]();
    if (!q) return { ms: wallMs, wallMs };
    await q.read.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(q.read.getMappedRange().slice(0));
    q.read.unmap();
    return { ms: Number(end - begin) / 1e6, wallMs };
  }

  [Symbol.dispose](): void {
    this.#queries?.set.destroy();
    this.#queries?.resolve.destroy();
    this.#queries?.read.destroy();
  }
}
