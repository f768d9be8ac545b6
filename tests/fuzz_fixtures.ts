/**
 * Fuzzing helpers: small valid files of every format the tool reads, fast-check arbitraries that
 * damage them (byte-level for binary files, structural for JSON), and the check that a reader's
 * only outcomes are success or an InputError of one line that names the file.
 */
import fc from "fast-check";
import { InputError } from "../pipeline/io/input_error.ts";
import { writeSafetensors } from "../pipeline/formats/safetensors.ts";
import { writeNpy } from "../pipeline/formats/npy.ts";
import { encodeIdx } from "../pipeline/formats/idx.ts";
import { floatTensor, OnnxBuilder } from "./onnx_builder.ts";
import { onnx } from "../pipeline/model/onnx/proto.ts";

/** The seed every fuzz property runs with, so CI sees the same cases each time. */
export const FUZZ_SEED = 18;

/** One damage done to a file's bytes. */
type ByteMutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "delete"; at: number; count: number }
  | { kind: "overwrite"; at: number; bytes: number[] };

/** Bytes that break decoders: NUL, invalid UTF-8 (a lone continuation, an overlong form, a surrogate), huge lengths. */
const HOSTILE_BYTES: number[][] = [
  [0],
  [0xff],
  [0xc3, 0x28],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0x7f],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  [0, 0, 0, 0x80],
  [0x0a],
  [0x0d],
];

/** A position in a file of `length` bytes, as a fraction so that one arbitrary fits every length. */
const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });

const byteMutation: fc.Arbitrary<(length: number) => ByteMutation> = fc.oneof(
  fc.tuple(position, fc.nat(7)).map(([p, bit]) => (n: number) => ({
    kind: "flip" as const,
    at: Math.floor(p * n),
    bit,
  })),
  // Truncation at every length class: the first bytes, the header, the middle, one short of the end.
  fc.oneof(fc.nat(16), fc.nat(64).map((k) => -1 - k)).map((k) => (n: number) => ({
    kind: "truncate" as const,
    at: k >= 0 ? Math.min(k, n) : Math.max(0, n + k + 1),
  })),
  position.map((p) => (n: number) => ({ kind: "truncate" as const, at: Math.floor(p * n) })),
  fc.tuple(position, fc.oneof(fc.constantFrom(...HOSTILE_BYTES), fc.array(fc.nat(255), { minLength: 1, maxLength: 8 })))
    .map(([p, bytes]) => (n: number) => ({ kind: "insert" as const, at: Math.floor(p * (n + 1)), bytes })),
  fc.tuple(position, fc.integer({ min: 1, max: 16 }))
    .map(([p, count]) => (n: number) => ({ kind: "delete" as const, at: Math.floor(p * n), count })),
  // Overwrites favour the first 64 bytes, where the length fields are.
  fc.tuple(fc.oneof(fc.nat(63).map((i) => -1 - i), position), fc.constantFrom(...HOSTILE_BYTES))
    .map(([p, bytes]) => (n: number) => ({
      kind: "overwrite" as const,
      at: p < 0 ? Math.min(-1 - p, Math.max(0, n - 1)) : Math.floor(p * n),
      bytes,
    })),
);

function applyMutation(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  switch (m.kind) {
    case "flip": {
      if (bytes.length === 0) return bytes;
      const out = bytes.slice();
      out[m.at] ^= 1 << m.bit;
      return out;
    }
    case "truncate":
      return bytes.slice(0, m.at);
    case "insert":
      return Uint8Array.from([...bytes.subarray(0, m.at), ...m.bytes, ...bytes.subarray(m.at)]);
    case "delete":
      return Uint8Array.from([...bytes.subarray(0, m.at), ...bytes.subarray(m.at + m.count)]);
    case "overwrite": {
      const out = bytes.slice();
      m.bytes.forEach((b, i) => {
        if (m.at + i < out.length) out[m.at + i] = b;
      });
      return out;
    }
  }
}

/**
 * One to three byte-level mutations of `valid` (bit flips, truncations, insertions, deletions,
 * hostile overwrites); the result is never longer than the file plus 24 bytes.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * fc.sample(mutatedBytes(new Uint8Array([1, 2, 3])), 2);
 * ```
 */
export function mutatedBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.array(byteMutation, { minLength: 1, maxLength: 3 }).map((mutations) =>
    mutations.reduce((bytes, m) => applyMutation(bytes, m(bytes.length)), valid)
  );
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Marks where a deeply nested value is spliced into the serialised text. */
const DEEP = "\u0000deep\u0000";

/** Values of the wrong type, hostile strings and numbers, and deep nesting. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    null,
    true,
    0,
    -1,
    1.5,
    1e308,
    -0,
    2 ** 53 + 2,
    "",
    "\u0000",
    "a\nb",
    "a\r\nb",
    "\ud800",
    "../../../../etc/passwd",
    "/etc/passwd",
    "x".repeat(300),
    [],
    {},
    [[]],
    { "__proto__": 1 },
  ),
  fc.constant<Json>(DEEP),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** Every path to a value inside `value` (the root's path is []). */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  const stack: [Json, (string | number)[]][] = [[value, prefix]];
  while (stack.length > 0) {
    const [v, at] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      out.push([...at, k]);
      stack.push([child, [...at, k]]);
    }
  }
  return out;
}

/** A copy of `value` with `edit` applied to the container at `path` (or to the root). */
function edited(
  value: Json,
  path: (string | number)[],
  edit: (parent: Json[] | Record<string, Json>, key: string | number) => void,
): Json {
  const copy = structuredClone(value);
  if (path.length === 0) return copy;
  let parent = copy as Json[] | Record<string, Json>;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string, Json>)[key] as Record<string, Json>;
  edit(parent, path.at(-1)!);
  return copy;
}

type JsonMutation =
  | { kind: "replace"; pick: number; value: Json }
  | { kind: "remove"; pick: number }
  | { kind: "add"; pick: number; key: string; value: Json };

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ kind: fc.constant("replace" as const), pick: fc.nat(), value: hostileValue }),
  fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant("add" as const),
    pick: fc.nat(),
    key: fc.oneof(fc.constantFrom("__proto__", "constructor", "", "a\nb"), fc.string({ maxLength: 6 })),
    value: hostileValue,
  }),
);

function applyJsonMutation(value: Json, m: JsonMutation): Json {
  const all = paths(value);
  const path = all[m.pick % all.length];
  if (m.kind === "replace") {
    if (path.length === 0) return m.value;
    return edited(value, path, (parent, key) => ((parent as Record<string, Json>)[key] = m.value));
  }
  if (m.kind === "remove") {
    return edited(value, path, (parent, key) => {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    });
  }
  const target = edited(value, [...path, ""], () => {});
  let node = target;
  for (const key of path) node = (node as Record<string, Json>)[key];
  if (node !== null && typeof node === "object") {
    if (Array.isArray(node)) node.push(m.value);
    else Object.defineProperty(node, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return target;
}

/** The depths a deeply nested value takes: shallow, deep, and past any recursive walker's stack. */
const DEPTHS = [40, 2_000, 20_000];

/** Serialises a mutated value, splicing nested arrays or objects where the DEEP marker stands. */
function serialise(value: Json, depth: number, objects: boolean): string {
  const nested = objects
    ? `{"name":"n","children":[`.repeat(depth) + `{"name":"leaf"}` + "]}".repeat(depth)
    : "[".repeat(depth) + "]".repeat(depth);
  return JSON.stringify(value).replaceAll(JSON.stringify(DEEP), nested);
}

/**
 * Structural mutations of a valid JSON document (wrong types, removed and added keys, hostile
 * strings, deep nesting), serialised; a quarter of the cases then get byte-level damage too.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * fc.sample(mutatedJson({ name: "all", children: [{ name: "a" }] }), 2);
 * ```
 */
export function mutatedJson(valid: unknown): fc.Arbitrary<Uint8Array> {
  const encoder = new TextEncoder();
  const structural = fc.tuple(
    fc.array(jsonMutation, { minLength: 1, maxLength: 3 }),
    fc.constantFrom(...DEPTHS),
    fc.boolean(),
  ).map(([mutations, depth, objects]) =>
    encoder.encode(serialise(mutations.reduce(applyJsonMutation, valid as Json), depth, objects))
  );
  return fc.oneof(
    { arbitrary: structural, weight: 3 },
    { arbitrary: mutatedBytes(encoder.encode(JSON.stringify(valid, null, 1))), weight: 1 },
  );
}

/**
 * Structural mutations of a valid ONNX model (wrong or huge dims, other data types, attributes
 * of the wrong type, missing fields), re-encoded, so that the damage reaches the op converters
 * rather than stopping at the protobuf decoder. A mutation protobufjs cannot encode leaves the
 * model as it was.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * fc.sample(mutatedOnnx(validOnnx()), 2);
 * ```
 */
export function mutatedOnnx(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const object = onnx.ModelProto.toObject(onnx.ModelProto.decode(valid), { longs: Number, bytes: Array }) as Json;
  const numbers = fc.oneof(
    fc.constantFrom(0, -1, 1, 2, 7, 2 ** 31 - 1, 2 ** 40, -(2 ** 40)),
    fc.integer({ min: -3, max: 20 }),
  );
  const edit = fc.oneof(
    jsonMutation,
    numbers.chain((value) =>
      fc.record({ kind: fc.constant("replace" as const), pick: fc.nat(), value: fc.constant<Json>(value) })
    ),
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((mutations) => {
    try {
      return onnx.ModelProto.encode(onnx.ModelProto.fromObject(mutations.reduce(applyJsonMutation, object) as object))
        .finish();
    } catch {
      return valid;
    }
  });
}

/**
 * Lines of text with byte-level damage and hostile cells (NUL, invalid UTF-8, quotes, huge
 * numbers, extra commas) for the CSV readers.
 *
 * @example
 * ```ts
 * import fc from "fast-check";
 * fc.sample(mutatedCsv("index,group\n0,a\n"), 2);
 * ```
 */
export function mutatedCsv(valid: string): fc.Arbitrary<Uint8Array> {
  const encoder = new TextEncoder();
  const lines = valid.split("\n");
  const cell = fc.oneof(
    fc.constantFrom("", "\u0000", '"', "a,b", "99999999999999999999", "-1", "1e3", " 1", "n0144076", "\uFEFF"),
    fc.string({ maxLength: 6 }),
  );
  const rowEdit = fc.tuple(fc.nat(), cell, fc.boolean()).map(([pick, text, append]) => (rows: string[]) => {
    const out = [...rows];
    const i = pick % out.length;
    out[i] = append ? out[i] + text : text;
    return out;
  });
  const edited = fc.array(rowEdit, { minLength: 1, maxLength: 3 })
    .map((edits) => encoder.encode(edits.reduce((rows, edit) => edit(rows), lines).join("\n")));
  return fc.oneof(edited, mutatedBytes(encoder.encode(valid)));
}

/**
 * Runs a reader on a damaged file and rethrows anything but success or an InputError whose
 * message is one line and names `source`, with the reason in the message.
 *
 * @example
 * ```ts
 * await expectInputErrorOrSuccess(() => JSON.parse("{"), "x.json"); // throws: a SyntaxError escaped
 * ```
 */
export async function expectInputErrorOrSuccess(read: () => unknown, source: string): Promise<void> {
  try {
    await read();
  } catch (e) {
    if (!(e instanceof InputError)) {
      const what = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
      throw new Error(`not an InputError: ${what.slice(0, 300)}`);
    }
    // Caught and rewrapped, a stack overflow is still recursion over the user's data.
    if (/Maximum call stack/.test(e.message)) throw new Error(`recursion overflowed: ${e.message.slice(0, 300)}`);
    if (/[\n\r]/.test(e.message)) {
      throw new Error(`InputError of several lines: ${JSON.stringify(e.message.slice(0, 300))}`);
    }
    if (!e.message.includes(source)) throw new Error(`InputError without the file's name: ${e.message.slice(0, 300)}`);
  }
}

/** The fast-check parameters of one format's property: the seed and how many cases. */
export function fuzzParameters(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

/** A small valid safetensors file of three tensors. */
export function validSafetensors(): Uint8Array {
  return writeSafetensors({
    "conv.w": { shape: [2, 1, 2, 2], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) },
    "conv.b": { shape: [2], data: new Float32Array([0.5, -0.5]) },
    scalar: { shape: [], data: new Float32Array([3]) },
  }, { format: "pt" });
}

/** A small valid `.npy` file: a 2x3 float32 array. */
export function validNpy(): Uint8Array {
  return writeNpy({ shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
}

/** A `.npy` file (format 2.0, so any header length fits) with the given header text and six float32 values. */
export function npyWithHeader(header: string): Uint8Array {
  const text = new TextEncoder().encode(header + "\n");
  const out = new Uint8Array(12 + text.length + 24);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0]);
  new DataView(out.buffer).setUint32(8, text.length, true);
  out.set(text, 12);
  return out;
}

/** Header texts built from the tokens of NumPy's dict literal, in any order, and deeply nested brackets. */
export const npyHeaders: fc.Arbitrary<string> = fc.oneof(
  fc.array(
    fc.constantFrom(
      "{",
      "}",
      "(",
      ")",
      "[",
      "]",
      ":",
      ",",
      " ",
      "'descr'",
      "'fortran_order'",
      "'shape'",
      "'<f4'",
      "'>f4'",
      "'|u1'",
      "True",
      "False",
      "None",
      "3L",
      "-1",
      "2",
      "99999999999999999999",
      "'",
      '"',
      "\\",
      "\u0000",
      "\n",
    ),
    { maxLength: 40 },
  ).map((tokens) => tokens.join("")),
  fc.tuple(fc.constantFrom("(", "[", "{'a': "), fc.constantFrom(17, 2_000, 30_000)).map(([open, depth]) =>
    `{'descr': '<f4', 'fortran_order': False, 'shape': ${open.repeat(depth)}`
  ),
);

/** A small valid IDX file: three 2x2 unsigned-byte images. */
export function validIdx(): Uint8Array {
  return encodeIdx({ shape: [3, 2, 2], data: Uint8Array.from({ length: 12 }, (_, i) => 20 * i) });
}

/** The same IDX file gzipped (the decompressor then meets the damage). */
export async function validIdxGz(): Promise<Uint8Array> {
  const stream = ReadableStream.from([validIdx() as Uint8Array<ArrayBuffer>]).pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * A tiny valid ONNX classifier on 1x4x4 images: Conv, BatchNormalization, Relu, Flatten, Gemm
 * to 3 logits, with a Reshape by a Constant shape so integer tensors are read too.
 */
export function validOnnx(): Uint8Array {
  const b = new OnnxBuilder(13, 7);
  let x = b.op("Conv", ["image", b.random("c.w", [2, 1, 3, 3], 0.5), b.random("c.b", [2], 0.1)], {
    kernel_shape: { ints: [3, 3] },
    pads: { ints: [1, 1, 1, 1] },
  });
  const bn = [[1.1, 0.9], [0.1, -0.1], [0, 0.2], [1, 1.5]].map((v, i) => b.init(floatTensor(`bn${i}`, [2], v)));
  x = b.op("BatchNormalization", [x, ...bn], { epsilon: { f: 1e-5 } });
  x = b.op("Relu", [x]);
  x = b.op("Flatten", [x], { axis: { i: 1 } });
  x = b.op("Gemm", [x, b.random("fc.w", [3, 32], 0.3), b.random("fc.b", [3], 0.1)], { transB: { i: 1 } });
  return b.build({ name: "image", dims: ["N", 1, 4, 4] }, { name: x, dims: ["N", 3] });
}

/** The protobuf varint encoding of a length. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) out.push((n & 127) | 128);
  return [...out, n];
}

/**
 * An ONNX file of messages nested `levels` deep: subgraphs in attributes of nodes of graphs, types
 * of sequences of types, or (with no schema at all) start-group tags.
 *
 * @example
 * ```ts
 * const bytes = deeplyNestedOnnx("subgraphs", 20_000); // about 240 KB
 * ```
 */
export function deeplyNestedOnnx(kind: "subgraphs" | "types" | "groups", levels: number): Uint8Array {
  if (kind === "groups") return new Uint8Array(levels).fill(0x0b); // field 1, wire type 3 (start group)
  // Single-byte tags (field << 3 | 2) of the messages that enclose each level, outermost first.
  const [outer, repeated] = kind === "subgraphs"
    ? [[0x3a], [0x0a, 0x2a, 0x32]] // Model.graph; Graph.node, Node.attribute, Attribute.g
    : [[0x3a, 0x5a, 0x12], [0x22, 0x0a]]; // Model.graph, Graph.input, ValueInfo.type; Type.sequence_type, Sequence.elem_type
  const tags = [...outer, ...Array.from({ length: levels }, () => repeated).flat()];
  // Built from the inside out: each message's length is what it encloses.
  const prefixes: number[][] = [];
  let length = 0;
  for (const tag of tags.reverse()) {
    const prefix = [tag, ...varint(length)];
    prefixes.push(prefix);
    length += prefix.length;
  }
  return Uint8Array.from(prefixes.reverse().flat());
}

/** The sidecar of `validOnnx`. */
export const VALID_SIDECAR = {
  name: "tiny",
  classes: ["a", "b", "c"],
  normalization: { mean: [0.5], std: [0.25] },
  inputRange: [0, 1],
};

/** A small valid hierarchy over the classes a, b, c. */
export const VALID_HIERARCHY = {
  name: "all",
  children: [{ name: "ab", children: [{ name: "a" }, { name: "b" }] }, { name: "c" }],
};

/** A valid groups CSV for four examples. */
export const VALID_GROUPS_CSV = "index,group\n0,marked\n1,clean\n2,marked\n3,clean\n";

/** A valid Kaggle solution file for two images. */
export const VALID_LOC_CSV = "ImageId,PredictionString\n" +
  "ILSVRC2012_val_00000001,n01751748 43 14 434 456 n01751748 0 0 10 10\n" +
  "ILSVRC2012_val_00000002,n09193705 54 0 5 10\n";

/** Valid ReaL labels for three images of a 3-class model. */
export const VALID_REAL = [[0], [], [2, 1]];

/** A valid chunk file of one batch of two predictions, with robustness and features. */
export const VALID_CHUNK = {
  batch: 0,
  predictions: [
    { index: 0, label: 1, top: [1, 0], probs: [0.7, 0.2] },
    { index: 1, label: 0, top: [1, 0], probs: [0.6, 0.3] },
  ],
  robustness: {
    indices: [0, 1],
    labels: [1, 0],
    clean: [1, 1],
    zeroGradients: 0,
    sweeps: { fgsm: [[1, 1], [1, 0]] },
    minEpsilons: [0.1, null],
  },
  features: btoa(String.fromCharCode(...new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer))),
};

/** A valid judgments.jsonl of two lines. */
export const VALID_JUDGMENTS = [
  {
    item: "mistake:3",
    kind: "mistake",
    index: 3,
    judgment: "label is wrong",
    explanationShown: true,
    at: "2026-01-02T03:04:05.000Z",
  },
  {
    item: "adversarial:4",
    kind: "adversarial",
    index: 4,
    judgment: "not acceptable",
    explanationShown: false,
    at: "2026-01-02T03:04:06Z",
  },
].map((j) => JSON.stringify(j)).join("\n") + "\n";
