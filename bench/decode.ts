/**
 * The decode bench: images per second of reading, decoding, resizing and centre-cropping
 * ImageNet-sized JPEGs (500x375 and 375x500, 4:2:0, quality 90, written by PIL from
 * scikit-image's photos) to 224x224, as the imagenet source does it: one decode worker (the speed
 * of one core) and the pool of one worker per core (in total), for each JPEG decoder this machine
 * can load. Beside the wall-clock rates, images per CPU-second of the whole process (every worker
 * thread included) over the pool's run: a per-core figure that other processes on a shared machine
 * disturb less.
 */
import { join } from "node:path";
import process from "node:process";
import { type JpegDecoder, jpegDecoder } from "../pipeline/data/decode_image.ts";
import { decodeFiles, defaultDecodeWorkers } from "../pipeline/data/decode_pool.ts";
import type { ImageRecipe } from "../pipeline/data/prepare_image.ts";
import { runPython, SKIMAGE_DATA } from "../tests/python_reference.ts";

/** One decoder's figures. */
export interface DecodeFigures {
  decoder: JpegDecoder;
  images: number;
  /** One worker: what one core decodes. */
  perCore: number;
  workers: number;
  /** The pool of `workers`, together. */
  total: number;
  /** Images per second of the process's CPU time, over the pool's run. */
  perCpuSecond: number;
}

const WRITE_JPEGS = `
import sys
from PIL import Image
data, out = sys.argv[1], sys.argv[2]
n = 0
for name in ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]:
    im = Image.open(f"{data}/{name}").convert("RGB")
    for size in [(500, 375), (375, 500)]:
        im.resize(size, Image.LANCZOS).save(f"{out}/{n:02d}.jpg", quality=90); n += 1
`;

/**
 * Images per second of wall clock and of process CPU time over one stream of `paths`, both timed
 * from the first image, so worker start-up is left out.
 */
async function rate(paths: string[], recipe: ImageRecipe, workers: number): Promise<{ wall: number; cpu: number }> {
  let start = 0, count = 0;
  let cpu = process.cpuUsage();
  for await (const _ of decodeFiles(paths, recipe, { workers })) {
    if (count++ > 0) continue;
    start = performance.now();
    cpu = process.cpuUsage();
  }
  const used = process.cpuUsage(cpu);
  return {
    wall: (count - 1) / ((performance.now() - start) / 1000),
    cpu: (count - 1) / ((used.user + used.system) / 1e6),
  };
}

/**
 * Times decode + resize 256 + centre crop 224 on `images` files (the ten photos, repeated), best
 * of `runs`.
 */
export async function decodeBench(images = 300, runs = 3): Promise<DecodeFigures[]> {
  const dir = await Deno.makeTempDir({ prefix: "decode_bench_" });
  try {
    await runPython(WRITE_JPEGS, [SKIMAGE_DATA, dir]);
    const paths = Array.from({ length: images }, (_, i) => join(dir, `${String(i % 10).padStart(2, "0")}.jpg`));
    const decoders: JpegDecoder[] = (await jpegDecoder()) === "sharp" ? ["sharp", "jpeg-js"] : ["jpeg-js"];
    const workers = defaultDecodeWorkers();
    const figures: DecodeFigures[] = [];
    for (const decoder of decoders) {
      const recipe: ImageRecipe = { decoder, preprocess: { resize: 256, crop: 224, interpolation: "bilinear" } };
      let perCore = 0, total = 0, perCpuSecond = 0;
      for (let r = 0; r < runs; r++) {
        perCore = Math.max(perCore, (await rate(paths, recipe, 1)).wall);
        const pool = await rate(paths, recipe, workers);
        total = Math.max(total, pool.wall);
        perCpuSecond = Math.max(perCpuSecond, pool.cpu);
      }
      figures.push({ decoder, images, perCore, workers, total, perCpuSecond });
    }
    return figures;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The lines printed on the terminal, with the target of at least 100 images/s per core; the first
 * decoder is the one the imagenet source uses, the others stand in where it cannot load.
 */
export function decodeTable(figures: DecodeFigures[]): string {
  return [
    "decode + resize 256 + centre crop 224, ImageNet-sized JPEGs (500x375, 375x500), images/s:",
    ...figures.map((f, i) =>
      `  ${`${f.decoder} (${i === 0 ? "used" : "fallback"})`.padEnd(18)}  per core (1 worker) ${
        f.perCore.toFixed(0).padStart(5)
      }  ` +
      `total (${f.workers} workers) ${f.total.toFixed(0).padStart(5)}  ` +
      `per CPU-second ${f.perCpuSecond.toFixed(0).padStart(5)}  ` +
      `target >= 100 per core ${f.perCore >= 100 ? "met" : "MISSED"}`
    ),
  ].join("\n");
}
