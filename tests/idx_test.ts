import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { decodeIdx, encodeIdx, MAX_IDX_BYTES, parseIdx } from "../pipeline/formats/idx.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

/** Expects an InputError whose one line names the file, then matches `pattern`. */
const rejects = (bytes: Uint8Array, pattern: RegExp) =>
  assert.rejects(decodeIdx(bytes, "bad.idx"), {
    name: "InputError",
    message: new RegExp(`^bad\\.idx: .*${pattern.source}`),
  });

const gzip = (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes));

const idxArb = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }).chain((shape) => {
  const count = sizeOf(shape);
  return fc.record({
    shape: fc.constant(shape),
    data: fc.uint8Array({ minLength: count, maxLength: count }),
  });
});

Deno.test("idx round-trips plain and gzipped files", async () => {
  await fc.assert(
    fc.asyncProperty(idxArb, async ({ shape, data }) => {
      const bytes = encodeIdx({ shape, data });
      assert.deepEqual(parseIdx(bytes, "x.idx"), { shape, data });
      assert.deepEqual(await decodeIdx(bytes, "x.idx"), { shape, data });
      assert.deepEqual(await decodeIdx(gzip(bytes), "x.idx.gz"), { shape, data });
    }),
    { numRuns: 50 },
  );
});

Deno.test("idx reads the MNIST header layout: big-endian dimensions after 00 00 08 ndims", () => {
  const bytes = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 1, ...new Uint8Array(512).fill(7)]);
  const { shape, data } = parseIdx(bytes, "images.idx");
  assert.deepEqual(shape, [2, 256, 1]);
  assert.equal(data.length, 512);
});

Deno.test("idx rejects truncated and overlong data", async () => {
  const bytes = encodeIdx({ shape: [2, 3], data: new Uint8Array(6) });
  await rejects(bytes.subarray(0, bytes.length - 1), /truncated IDX data: shape 2x3 needs 6 bytes, found 5/);
  await rejects(new Uint8Array([...bytes, 0]), /too long IDX data: shape 2x3 needs 6 bytes, found 7/);
  await rejects(bytes.subarray(0, 9), /truncated IDX header/);
  await assert.rejects(decodeIdx(bytes.subarray(0, 9), "t.idx"), InputError);
  await rejects(gzip(bytes.subarray(0, bytes.length - 2)), /truncated IDX data: shape 2x3 needs 6 bytes, found 4/);
  await rejects(gzip(new Uint8Array([...bytes, 1, 2])), /too long IDX data/);
  await rejects(gzip(bytes.subarray(0, 6)), /truncated IDX header \(6 bytes after gunzip\)/);
});

Deno.test("idx rejects corrupt and truncated gzip streams", async () => {
  const compressed = gzip(encodeIdx({ shape: [64], data: new Uint8Array(64).map((_, i) => i * 3) }));
  await rejects(compressed.subarray(0, compressed.length - 6), /corrupt or truncated gzip data/);
  const corrupt = compressed.slice();
  corrupt.fill(0xff, 10, compressed.length - 8);
  await rejects(corrupt, /corrupt or truncated gzip data/);
});

Deno.test("idx rejects a bad magic, other element types and oversized shapes before allocating", async () => {
  await rejects(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0]), /not an IDX file/);
  await rejects(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0]), /unsupported IDX element type 0x0d/);
  await rejects(new Uint8Array([0, 0, 8, 0]), /declares 0 dimensions/);
  const huge = new Uint8Array([0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  await rejects(huge, new RegExp(`exceeds the ${MAX_IDX_BYTES}-byte limit`));
  await rejects(gzip(huge), /exceeds the/);
});
