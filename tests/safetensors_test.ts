import assert from "node:assert/strict";
import fc from "fast-check";
import { InputError } from "../pipeline/io/input_error.ts";
import { readSafetensors, writeSafetensors } from "../pipeline/formats/safetensors.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

/** Builds a safetensors file from a raw header (object or text) and a data area. */
function build(header: unknown, data: Uint8Array, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Expects an InputError whose one line names the file, then matches `pattern`. */
function rejects(bytes: Uint8Array, pattern: RegExp): void {
  const message = new RegExp(`^bad\\.safetensors: .*${pattern.source}`);
  assert.throws(() => readSafetensors(bytes, "bad.safetensors"), { name: "InputError", message });
}

const tensorArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }).chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    data: fc.float32Array({
      minLength: sizeOf(shape),
      maxLength: sizeOf(shape),
    }),
  })
);

Deno.test("safetensors round-trips float32 tensors and metadata", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== "__metadata__"), tensorArb),
      fc.option(fc.dictionary(fc.string(), fc.string()), { nil: undefined }),
      (tensors, metadata) => {
        const bytes = writeSafetensors(tensors, metadata);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        assert.equal((8 + headerLength) % 8, 0);
        const back = readSafetensors(bytes, "round.safetensors");
        assert.deepEqual([...back.keys()].sort(), Object.keys(tensors).sort());
        for (const [name, t] of Object.entries(tensors)) {
          const got = back.get(name)!;
          assert.equal(got.dtype, "F32");
          assert.deepEqual(got.shape, t.shape);
          assert.deepEqual(got.data, t.data);
        }
      },
    ),
  );
});

Deno.test("safetensors writes tensors sorted by name with a space-padded header", () => {
  const bytes = writeSafetensors(
    new Map([["b", { shape: [1], data: new Float32Array([2]) }], ["a", { shape: [1], data: new Float32Array([1]) }]]),
  );
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  assert.match(header, /^\{"a":.*"b":.*\} *$/);
  assert.deepEqual(JSON.parse(header).b.data_offsets, [4, 8]);
  assert.deepEqual([...new Float32Array(bytes.slice(8 + headerLength).buffer)], [1, 2]);
});

Deno.test("safetensors keeps tensors named like Object.prototype properties", () => {
  const names = ["__proto__", "constructor", "toString"];
  const back = readSafetensors(
    writeSafetensors(new Map(names.map((n, i) => [n, { shape: [1], data: new Float32Array([i]) }]))),
    "proto.safetensors",
  );
  assert.deepEqual(names.map((n) => back.get(n)?.data[0]), [0, 1, 2]);
});

Deno.test("safetensors converts F16, BF16 and F64 to float32", () => {
  const data = new Uint8Array(2 + 2 + 8);
  const view = new DataView(data.buffer);
  view.setUint16(0, 0x3c00, true); // F16 1.0
  view.setUint16(2, 0xc040, true); // BF16 -3.0
  view.setFloat64(4, 0.5, true);
  const file = build({
    h: { dtype: "F16", shape: [1], data_offsets: [0, 2] },
    b: { dtype: "BF16", shape: [1], data_offsets: [2, 4] },
    d: { dtype: "F64", shape: [], data_offsets: [4, 12] },
  }, data);
  const t = readSafetensors(file, "mixed.safetensors");
  assert.deepEqual([t.get("h")!.data[0], t.get("b")!.data[0], t.get("d")!.data[0]], [1, -3, 0.5]);
  assert.deepEqual(t.get("d")!.shape, []);
});

Deno.test("safetensors rejects a truncated file", () => {
  const good = writeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
  assert.throws(() => readSafetensors(good.subarray(0, 5), "t.safetensors"), InputError);
  rejects(good.subarray(0, 5), /truncated/);
  rejects(good.subarray(0, good.length - 1), /run past the data area/);
});

Deno.test("safetensors rejects a header length past the end of the file", () => {
  rejects(build({}, new Uint8Array(0), 1000n), /header length 1000 runs past the end/);
  rejects(build({}, new Uint8Array(0), 2n ** 63n), /runs past the end/);
});

Deno.test("safetensors rejects overlapping offsets", () => {
  rejects(
    build({
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    }, new Uint8Array(12)),
    /tensor 'b' overlaps tensor 'a'/,
  );
});

Deno.test("safetensors rejects gaps and unused trailing bytes", () => {
  rejects(build({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /gap of 4 unused bytes/);
  rejects(build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /4 unused bytes after/);
});

Deno.test("safetensors rejects a shape that disagrees with the byte range", () => {
  rejects(
    build({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
    /tensor 'a': shape \[3\] of F32 needs 12 bytes but data_offsets span 8/,
  );
  rejects(
    build({ a: { dtype: "F32", shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, new Uint8Array(8)),
    /needs .* bytes but data_offsets span 8/,
  );
});

Deno.test("safetensors rejects bad JSON, bad entries and unsupported dtypes", () => {
  rejects(build("{not json", new Uint8Array(0)), /safetensors header: not valid JSON \(line 1, column 2\)/);
  rejects(build("[1, 2]", new Uint8Array(0)), /header must be a JSON object/);
  rejects(
    build({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 0] } }, new Uint8Array(0)),
    /tensor 'a': invalid entry/,
  );
  rejects(build({ a: { dtype: "F32", shape: [1] } }, new Uint8Array(4)), /tensor 'a': invalid entry \(data_offsets/);
  rejects(build({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)), /unsupported dtype I64/);
  rejects(build({ __metadata__: { a: 1 } }, new Uint8Array(0)), /__metadata__ must map strings to strings/);
  rejects(build({ a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, new Uint8Array(4)), /end 0 < begin 4/);
});
