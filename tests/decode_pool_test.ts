/**
 * The decode pool: images come back in the order of the paths whatever the worker count and
 * prefetch, a bad file is an InputError naming it, and no worker outlives the stream, whether it
 * ends, fails or its consumer stops early.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { encode } from "fast-png";
import sharp from "sharp";
import { decodeFiles, runningDecodeWorkers } from "../pipeline/data/decode_pool.ts";
import type { ImageRecipe } from "../pipeline/data/prepare_image.ts";

const dir = await Deno.makeTempDir({ prefix: "decode_pool_test_" });
const COUNT = 12;
/** File i is a 6x4 grey PNG of value 20 i (exact, so the expected pixel is known). */
const paths = await Promise.all(Array.from({ length: COUNT }, async (_, i) => {
  const path = join(dir, `${String(i).padStart(2, "0")}.png`);
  await Deno.writeFile(path, encode({ width: 6, height: 4, channels: 1, data: new Uint8Array(24).fill(20 * i) }));
  return path;
}));
const recipe: ImageRecipe = { decoder: "sharp", target: { channels: 3, height: 2, width: 3 } };

async function collect(files: string[], workers: number, prefetch: number): Promise<number[]> {
  const firsts: number[] = [];
  for await (const image of decodeFiles(files, recipe, { workers, prefetch })) {
    assert.equal(image.length, 3 * 2 * 3);
    firsts.push(Math.round(image[0] * 255));
  }
  return firsts;
}

Deno.test("decodeFiles hands images back in path order for any worker count and prefetch", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 6 }),
      fc.shuffledSubarray(paths, { minLength: 1 }),
      async (workers, prefetch, files) => {
        const expected = files.map((p) => 20 * Number(p.slice(-6, -4)));
        assert.deepEqual(await collect(files, workers, prefetch), expected);
        assert.equal(runningDecodeWorkers(), 0);
      },
    ),
    { numRuns: 8, seed: 13 },
  );
});

Deno.test("decodeFiles terminates its workers when the consumer stops early, libvips decodes in flight", async () => {
  const jpeg = join(dir, "grey.jpg");
  const background = { r: 90, g: 90, b: 90 };
  await Deno.writeFile(
    jpeg,
    await sharp({ create: { width: 500, height: 375, channels: 3, background } }).jpeg().toBuffer(),
  );
  const preprocess = { resize: 256, crop: 224, interpolation: "bilinear" } as const;
  for (const stopAfter of [1, 2, 5]) {
    let seen = 0;
    for await (
      const _ of decodeFiles(Array(20).fill(jpeg), { decoder: "sharp", preprocess }, { workers: 3, prefetch: 6 })
    ) {
      assert.equal(runningDecodeWorkers(), 3);
      if (++seen === stopAfter) break;
    }
    assert.equal(seen, stopAfter);
    assert.equal(runningDecodeWorkers(), 0);
  }
});

Deno.test("a bad file ahead of the consumer fails the stream in its turn, as an InputError naming it", async () => {
  const bad = join(dir, "bad.jpg");
  await Deno.writeFile(bad, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
  const files = [paths[0], paths[1], bad, paths[2]];
  const got: number[] = [];
  await assert.rejects(
    async () => {
      for await (const image of decodeFiles(files, recipe, { workers: 2, prefetch: 4 })) got.push(image[0]);
    },
    (e: Error) => e.name === "InputError" && e.message.includes("bad.jpg"),
  );
  assert.equal(got.length, 2, "the images before the bad one still arrive");
  assert.equal(runningDecodeWorkers(), 0);
  await assert.rejects(
    async () => {
      for await (const _ of decodeFiles([join(dir, "missing.png")], recipe)) { /* nothing arrives */ }
    },
    (e: Error) => e.name === "InputError" && /missing\.png: no such file/.test(e.message),
  );
});

Deno.test({ name: "decode pool test: clean up", fn: () => Deno.remove(dir, { recursive: true }) });
