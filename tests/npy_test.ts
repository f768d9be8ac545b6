import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import { InputError } from "../pipeline/io/input_error.ts";
import { parseNpyHeader, readNpy, writeNpy } from "../pipeline/formats/npy.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

/** Files written by NumPy 2.4 (`np.save`, or `np.lib.format.write_array` for versions 2.0/3.0), base64. */
const NUMPY = {
  f4:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=",
  f8:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAqamZmZmZm5PwAAAAAAAATA",
  i8:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGk4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDEpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoDAAAAAAAAAPn/////////",
  u1:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAgP8=",
  fortran:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AACAPwAAgD8AAIA/",
  scalar:
    "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAMA/",
  v2:
    "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAA==",
  v3:
    "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAA==",
};

function numpyFile(name: keyof typeof NUMPY): Uint8Array {
  return new Uint8Array(Buffer.from(NUMPY[name], "base64"));
}

/** Expects an InputError whose one line names the file, then matches `pattern`. */
const rejects = (bytes: Uint8Array, pattern: RegExp) =>
  assert.throws(() => readNpy(bytes, "bad.npy"), {
    name: "InputError",
    message: new RegExp(`^bad\\.npy: .*${pattern.source}`),
  });

Deno.test("npy round-trips float32 arrays of any shape", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 5 }), fc.integer(), (shape, seed) => {
      const count = sizeOf(shape);
      const data = Float32Array.from({ length: count }, (_, i) => Math.fround(Math.sin(seed + i) * 1e3));
      const bytes = writeNpy({ shape, data });
      assert.equal(bytes.length - 4 * count, 128);
      const back = readNpy(bytes, "round.npy");
      assert.deepEqual(back.shape, shape);
      assert.deepEqual(back.data, data);
    }),
  );
});

Deno.test("npy parses a header string exactly as NumPy writes it", () => {
  assert.deepEqual(
    parseNpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }", "x.npy"),
    { descr: "<f4", fortranOrder: false, shape: [2, 1, 28, 28] },
  );
  assert.deepEqual(parseNpyHeader("{'descr': '|u1', 'fortran_order': True, 'shape': (3,), }  \n", "x.npy").shape, [3]);
  assert.deepEqual(parseNpyHeader('{"descr": "<f8", "shape": (2L, 3L), "fortran_order": False}', "x.npy").shape, [
    2,
    3,
  ]);
  assert.throws(() => parseNpyHeader("{'descr': '<f4', 'shape': (2,)}", "x.npy"), /x\.npy: invalid \.npy header/);
  assert.throws(() => parseNpyHeader("{'descr': '<f4'", "x.npy"), /not a Python dict literal/);
  assert.throws(() => parseNpyHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "x.npy"), InputError);
});

Deno.test("npy writes the same bytes as NumPy", () => {
  const data = Float32Array.from([0, 1, 2, 3, 4, 5], (v) => v / 4);
  assert.deepEqual(writeNpy({ shape: [2, 3], data }), numpyFile("f4"));
});

Deno.test("npy reads NumPy files of each supported dtype and version", () => {
  const read = (name: keyof typeof NUMPY) => readNpy(numpyFile(name), `${name}.npy`);
  assert.deepEqual(read("f4"), { shape: [2, 3], data: Float32Array.from([0, 0.25, 0.5, 0.75, 1, 1.25]) });
  assert.deepEqual(read("f8"), { shape: [2], data: Float32Array.from([0.1, -2.5]) });
  assert.deepEqual(read("i8"), { shape: [2, 1], data: Float32Array.from([3, -7]) });
  assert.deepEqual(read("u1"), { shape: [3], data: Float32Array.from([0, 128, 255]) });
  assert.deepEqual(read("scalar"), { shape: [], data: Float32Array.from([1.5]) });
  assert.deepEqual(read("v2"), { shape: [2], data: new Float32Array(2) });
  assert.deepEqual(read("v3"), { shape: [2], data: new Float32Array(2) });
});

Deno.test("npy rejects truncated data, fortran order and unsupported files", () => {
  const f4 = numpyFile("f4");
  rejects(f4.subarray(0, f4.length - 1), /truncated \.npy data: shape \(2,3\) of <f4 needs 24 bytes, found 23/);
  rejects(new Uint8Array([...f4, 0]), /1 unexpected bytes after/);
  rejects(f4.subarray(0, 40), /header length 118 runs past the end/);
  rejects(f4.subarray(0, 5), /not a \.npy file/);
  rejects(numpyFile("fortran"), /fortran_order True is not supported/);
  const bigEndian = numpyFile("f4");
  bigEndian[21] = ">".charCodeAt(0);
  rejects(bigEndian, /big-endian dtype >f4/);
  const half = numpyFile("f4");
  half[23] = "2".charCodeAt(0);
  rejects(half, /unsupported dtype <f2 \(supported: <f4, <f8, <i8, \|u1\)/);
  const version = numpyFile("f4");
  version[6] = 4;
  rejects(version, /unsupported \.npy format version 4\.0/);
});
