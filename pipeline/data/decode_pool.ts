/**
 * Decoding image files in parallel, ahead of the consumer: a pool of module Web Workers
 * (decode_worker.ts), each reading, decoding and preparing one file at a time, with at most
 * `prefetch` files in flight, and the images handed back in the order of the paths. A bad file is
 * the InputError its worker raised, naming it. The workers start on the first image asked for and
 * are terminated when the stream ends, fails, or its consumer stops early (`break` in `for await`).
 *
 * @example
 * ```ts
 * import { jpegDecoder } from "./decode_image.ts";
 * const preprocess = { resize: 256, crop: 224, interpolation: "bilinear" } as const;
 * const recipe = { decoder: await jpegDecoder(), preprocess };
 * for await (const image of decodeFiles(["a.JPEG", "b.JPEG"], recipe)) console.log(image.length);
 * ```
 */
import { InputError } from "../io/input_error.ts";
import type { ImageRecipe } from "./prepare_image.ts";

/** How many workers, and how many files may be in flight at once (default twice the workers). */
export interface DecodePoolOptions {
  workers?: number;
  prefetch?: number;
}

/**
 * The worker count used by default: one per core the runtime reports (at least one).
 *
 * @example
 * ```ts
 * console.log(`${defaultDecodeWorkers()} decode workers`);
 * ```
 */
export function defaultDecodeWorkers(): number {
  return Math.max(1, navigator.hardwareConcurrency || 1);
}

let running = 0;

/**
 * How many decode workers are running now (started and not yet terminated), across all pools.
 *
 * @example
 * ```ts
 * console.log(`${runningDecodeWorkers()} decode workers running`);
 * ```
 */
export function runningDecodeWorkers(): number {
  return running;
}

function terminate(worker: Worker): void {
  worker.terminate();
  running--;
}

type Outcome = { image: Float32Array } | { error: Error };
type Reply = { image: Float32Array } | { error: string; input: boolean };

interface Job {
  path: string;
  settle: (outcome: Outcome) => void;
}

/** Workers that each take one job at a time from a shared queue. */
class WorkerPool implements Disposable {
  #idle: Worker[] = [];
  #busy = new Map<Worker, Job>();
  #queue: Job[] = [];
  #recipe: ImageRecipe;

  constructor(count: number, recipe: ImageRecipe) {
    this.#recipe = recipe;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL("./decode_worker.ts", import.meta.url).href, { type: "module" });
      running++;
      worker.onmessage = (event: MessageEvent<Reply>) => this.#answered(worker, event.data);
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault(); // a worker that fails to start or crashes fails its job, not the process
        this.#crashed(worker, event.message);
      };
      this.#idle.push(worker);
    }
  }

  run(path: string): Promise<Outcome> {
    return new Promise((settle) => {
      this.#queue.push({ path, settle });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const job = this.#queue.shift()!;
      this.#busy.set(worker, job);
      worker.postMessage({ path: job.path, recipe: this.#recipe });
    }
  }

  #answered(worker: Worker, reply: Reply): void {
    const job = this.#busy.get(worker)!;
    this.#busy.delete(worker);
    this.#idle.push(worker);
    if ("image" in reply) job.settle({ image: reply.image });
    else job.settle({ error: reply.input ? new InputError(reply.error) : new Error(`${job.path}: ${reply.error}`) });
    this.#dispatch();
  }

  #crashed(worker: Worker, message: string): void {
    terminate(worker);
    this.#idle = this.#idle.filter((w) => w !== worker);
    const job = this.#busy.get(worker);
    this.#busy.delete(worker);
    job?.settle({ error: new Error(`${job.path}: the decode worker failed (${message})`) });
    if (this.#idle.length + this.#busy.size === 0) {
      for (const queued of this.#queue.splice(0)) {
        queued.settle({ error: new Error(`${queued.path}: no decode worker left (${message})`) });
      }
    }
  }

  [Symbol.dispose](): void {
    for (const worker of [...this.#idle, ...this.#busy.keys()]) terminate(worker);
    this.#idle = [];
    this.#busy.clear();
  }
}

/**
 * Streams the prepared images of `paths`, in their order, decoded by a pool of workers (default:
 * one per core) at most `prefetch` files ahead.
 *
 * @example
 * ```ts
 * const recipe = { decoder: "jpeg-js", target: { channels: 3, height: 64, width: 64 } } as const;
 * for await (const image of decodeFiles(["cat.jpg"], recipe, { workers: 2, prefetch: 4 })) console.log(image[0]);
 * ```
 */
export async function* decodeFiles(
  paths: readonly string[],
  recipe: ImageRecipe,
  options: DecodePoolOptions = {},
): AsyncGenerator<Float32Array> {
  if (paths.length === 0) return;
  const workers = Math.min(options.workers ?? defaultDecodeWorkers(), paths.length);
  const prefetch = Math.max(options.prefetch ?? 2 * workers, 1);
  using pool = new WorkerPool(workers, recipe);
  // Outcomes settle rather than reject, so a failure ahead of the consumer waits for its turn.
  const ahead: Promise<Outcome>[] = [];
  let next = 0;
  while (next < paths.length || ahead.length > 0) {
    while (ahead.length < prefetch && next < paths.length) ahead.push(pool.run(paths[next++]));
    const outcome = await ahead.shift()!;
    if ("error" in outcome) throw outcome.error;
    yield outcome.image;
  }
}
