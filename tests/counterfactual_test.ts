/**
 * The counterfactual spec and edit: bad specs are one-line input errors (and exit 2 from the audit
 * command, before any image is read); a patch edit stamps exactly what the planted marker's own
 * code stamps; a colour transform matches hand-computed values, clamped to [0, 1].
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { readCounterfactualSpec, specClass } from "../pipeline/bias/counterfactual.ts";
import { applyEdit } from "../pipeline/data/edit.ts";
import { applyMarker, DIGITS_MARKER } from "../pipeline/data/marker.ts";
import { InputError } from "../pipeline/io/input_error.ts";
import { runCli } from "./cli_helpers.ts";

Deno.test("counterfactual spec: inline or a file; each bad spec is an InputError naming what is wrong", async () => {
  const spec = await readCounterfactualSpec('{"class": 7, "patch": {"rows": [1, 4], "columns": [23, 26], "value": 1}}');
  assert.deepEqual(spec, { class: 7, images: 500, patch: { rows: [1, 4], columns: [23, 26], value: 1 } });
  const file = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(file, '{"class": "cat", "colour": {"shift": [0.1, 0, 0]}, "images": 20}');
  const colour = await readCounterfactualSpec(file);
  assert.deepEqual(colour.colour, { scale: 1, shift: [0.1, 0, 0] });
  assert.equal(specClass(colour, ["dog", "cat"]), 1);
  assert.throws(() => specClass(colour, ["dog"]), /^InputError: --counterfactual: "cat" is not a class of the model$/);
  const bad: [string, RegExp][] = [
    ['{"class": 7}', /at top level: give exactly one edit, "patch", "copy" or "colour"$/],
    ['{"class": 7, "colour": {}, "copy": {"index": 0, "rows": [0, 0], "columns": [0, 0]}}', /exactly one edit/],
    ['{"class": 7, "patch": {"rows": [4, 1], "columns": [0, 0], "value": 1}}', /at patch\.rows: the first index/],
    ['{"class": 7, "colour": {"scal": 2}}', /at colour: Unrecognized key: "scal"/],
    ['{"class": -1, "colour": {}}', /at class:/],
    ['{"class": 7, "colour": {}, "images": 1e9}', /at images:/],
    ["{nope", /^--counterfactual: not valid JSON/],
  ];
  for (const [text, message] of bad) {
    await assert.rejects(
      () => readCounterfactualSpec(text),
      (e: Error) => e instanceof InputError && message.test(e.message),
    );
  }
});

Deno.test("audit --counterfactual: a bad spec exits 2 with one line, before the audit starts", async () => {
  const cases: [string, string][] = [
    ['{"class": 12, "colour": {}}', "audit: --counterfactual: 12 is not a class of the model"],
    [
      '{"class": 7, "copy": {"index": 2000, "rows": [0, 1], "columns": [0, 1]}}',
      "audit: --counterfactual: copy.index 2000 is past the data set's last example (1999)",
    ],
  ];
  for (const [spec, line] of cases) {
    const out = await Deno.makeTempDir();
    const result = await runCli("audit", ["--counterfactual", spec, "--out", out, "--limit", "4"]);
    assert.equal(result.code, 2);
    assert.equal(result.stderr.trim(), line);
  }
});

Deno.test("copy edit: the region of the source image at the same place, every channel; nothing else changes", () => {
  // 2 channels of 3x3: the image counts 0..17, the source counts 100..117.
  const image = Float32Array.from({ length: 18 }, (_, i) => i);
  const source = Float32Array.from({ length: 18 }, (_, i) => 100 + i);
  applyEdit(image, [2, 3, 3], { copy: { index: 0, rows: [0, 1], columns: [2, 5] } }, source);
  assert.deepEqual([...image], [0, 1, 102, 3, 4, 105, 6, 7, 8, 9, 10, 111, 12, 13, 114, 15, 16, 17]);
  assert.throws(() => applyEdit(image, [2, 3, 3], { copy: { index: 0, rows: [0, 0], columns: [0, 0] } }));
});

Deno.test("patch edit: the digits marker as a spec stamps what applyMarker stamps, on any image", () => {
  fc.assert(
    fc.property(fc.float32Array({ minLength: 784, maxLength: 784, noNaN: true }), (pixels) => {
      const viaMarker = pixels.slice(), viaEdit = pixels.slice();
      applyMarker(viaMarker, [1, 28, 28], DIGITS_MARKER);
      const { rows, columns, value } = DIGITS_MARKER;
      applyEdit(viaEdit, [1, 28, 28], { patch: { rows, columns, value } });
      assert.deepEqual(viaEdit, viaMarker);
    }),
    { numRuns: 20 },
  );
});

Deno.test("colour edit: per-channel scale and shift, clamped to [0, 1]; a patch past the edge is cut", () => {
  // 3 channels of 2 pixels: [0.2, 0.9], [0.5, 0.5], [0, 1].
  const image = Float32Array.of(0.2, 0.9, 0.5, 0.5, 0, 1);
  applyEdit(image, [3, 1, 2], { colour: { scale: [2, 1, 0.5], shift: [0, 0.25, 0.1] } });
  const expected = [0.4, 1, 0.75, 0.75, 0.1, 0.6];
  image.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `${i}: ${v} vs ${expected[i]}`));
  const small = new Float32Array(9);
  applyEdit(small, [1, 3, 3], { patch: { rows: [2, 10], columns: [1, 10], value: 0.5 } });
  assert.deepEqual([...small], [0, 0, 0, 0, 0, 0, 0, 0.5, 0.5]);
});
