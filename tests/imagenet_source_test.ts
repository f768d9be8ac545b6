/**
 * The `imagenet:PATH` source on both layouts, built here with real wnid folder names and JPEGs that
 * PIL writes: labels mapped onto the model's wnids in its output order, images in file-name order
 * over the whole set (not class by class), torchvision's transform applied, and the errors a user can
 * meet, each naming what is wrong and where.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openDataSource } from "../pipeline/data/mod.ts";
import { openImagenet } from "../pipeline/data/imagenet.ts";
import { runningDecodeWorkers } from "../pipeline/data/decode_pool.ts";
import type { DataSource, ImageOptions } from "../pipeline/data/types.ts";
import { runPython } from "./python_reference.ts";

const TENCH = "n01440764";
const TABBY = "n02123045";
const MUG = "n03063599";
const SHUTTLE = "n04266014";

/**
 * Each image is one flat colour (so that which file arrived where is plain from its pixels): the
 * validation number, the wnid, the colour and the size.
 */
const IMAGES: { id: number; wnid: string; rgb: [number, number, number]; size: [number, number]; ext: string }[] = [
  { id: 3, wnid: TABBY, rgb: [200, 40, 40], size: [500, 375], ext: "JPEG" },
  { id: 1, wnid: MUG, rgb: [40, 200, 40], size: [375, 500], ext: "JPEG" },
  { id: 12, wnid: TENCH, rgb: [40, 40, 200], size: [333, 257], ext: "jpg" },
  { id: 2, wnid: TABBY, rgb: [120, 120, 120], size: [90, 60], ext: "png" },
  { id: 7, wnid: SHUTTLE, rgb: [220, 220, 30], size: [300, 300], ext: "JPEG" },
];
const name = (id: number, ext: string) => `ILSVRC2012_val_${String(id).padStart(8, "0")}.${ext}`;
/** The file-name order of IMAGES. */
const ORDER = [...IMAGES].sort((a, b) => (name(a.id, a.ext) < name(b.id, b.ext) ? -1 : 1));

const root = await Deno.makeTempDir({ prefix: "imagenet_source_test_" });
const folderLayout = join(root, "imagefolder");
const kaggleTop = join(root, "kaggle");
const kaggleVal = join(kaggleTop, "ILSVRC", "Data", "CLS-LOC", "val");
await runPython(
  `
import sys, json, os
from PIL import Image
spec = json.loads(sys.argv[1])
for f in spec:
    os.makedirs(os.path.dirname(f["path"]), exist_ok=True)
    im = Image.new("RGB", tuple(f["size"]), tuple(f["rgb"]))
    im.save(f["path"], quality=95) if not f["path"].endswith("png") else im.save(f["path"])
`,
  [JSON.stringify(IMAGES.flatMap((im) => [
    { ...im, path: join(folderLayout, im.wnid, name(im.id, im.ext)) },
    { ...im, path: join(kaggleVal, name(im.id, im.ext)) },
  ]))],
);
// What a Finder or a macOS copy leaves behind: to be ignored.
await Deno.writeTextFile(join(folderLayout, TABBY, ".DS_Store"), "x");
await Deno.writeTextFile(join(folderLayout, TABBY, "._ILSVRC2012_val_00000003.JPEG"), "x");
await Deno.writeTextFile(join(kaggleVal, ".hidden.JPEG"), "x");
// Kaggle's file: rows in no particular order, several boxes per row, the first wnid the label.
await Deno.writeTextFile(
  join(kaggleTop, "LOC_val_solution.csv"),
  ["ImageId,PredictionString"].concat(
    [...IMAGES].reverse().map((im) => `${name(im.id, "").slice(0, -1)},${im.wnid} 1 2 30 40 ${im.wnid} 5 6 70 80 `),
  ).join("\n") + "\n",
);

/** The model's wnids, deliberately not sorted: labels are positions in this list. */
const WNIDS = [SHUTTLE, TENCH, MUG, TABBY, "n09999999"];
const preprocess = { resize: 64, crop: 56, interpolation: "bilinear" } as const;

async function stream(source: DataSource): Promise<{ index: number; label: number; mean: number[] }[]> {
  const out = [];
  for await (const { index, image, label } of source.examples()) {
    const plane = image.length / 3;
    const mean = [0, 1, 2].map((c) => image.subarray(c * plane, (c + 1) * plane).reduce((a, b) => a + b, 0) / plane);
    out.push({ index, label, mean });
  }
  return out;
}

async function checkSource(path: string) {
  const source = await openDataSource(`imagenet:${path}`, { classIds: WNIDS, preprocess });
  assert.equal(source.count, IMAGES.length);
  assert.deepEqual(source.classes, WNIDS);
  assert.deepEqual(source.shape, [3, 56, 56]);
  const got = await stream(source);
  assert.deepEqual(got.map((e) => e.index), [0, 1, 2, 3, 4]);
  // File-name order: val_00000001 (mug), 2 (tabby, the PNG), 3 (tabby), 7 (shuttle), 12 (tench).
  assert.deepEqual(got.map((e) => WNIDS[e.label]), [MUG, TABBY, TABBY, SHUTTLE, TENCH]);
  got.forEach((e, i) => {
    e.mean.forEach((m, c) => {
      assert.ok(Math.abs(m * 255 - ORDER[i].rgb[c]) <= 3, `image ${i} channel ${c}: ${m * 255} for ${ORDER[i].rgb[c]}`);
    });
  });
  assert.equal(runningDecodeWorkers(), 0);
}

Deno.test("imagenet: one folder per wnid, streamed in file-name order with the model's labels", async () => {
  await checkSource(folderLayout);
});

Deno.test("imagenet: Kaggle's flat folder, labelled from LOC_val_solution.csv four folders up", async () => {
  await checkSource(kaggleVal);
});

Deno.test("imagenet: without preprocess, images are resized to the asked size, one decoder or the other", async () => {
  for (const decoder of ["sharp", "jpeg-js"] as const) {
    const source = await openImagenet(folderLayout, { classIds: WNIDS, channels: 3, height: 8, width: 10 }, {
      decoder,
      workers: 2,
    });
    assert.deepEqual(source.shape, [3, 8, 10]);
    const got = await stream(source);
    assert.deepEqual(
      got.map((e) => e.mean.map((m) => Math.round(m * 255 / 10))),
      ORDER.map((o) => o.rgb.map((v) => Math.round(v / 10))),
    );
  }
});

async function rejects(path: string, options: ImageOptions, pattern: RegExp) {
  await assert.rejects(openDataSource(`imagenet:${path}`, options), (e: Error) => {
    assert.equal(e.name, "InputError", e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("imagenet: a model without wnids is told to declare them", async () => {
  await rejects(folderLayout, { preprocess }, /must declare .*"wnids".* in its sidecar or manifest/);
});

Deno.test("imagenet: a label the model lacks names the wnid and a file", async () => {
  await rejects(
    folderLayout,
    { classIds: [SHUTTLE, TENCH, TABBY], preprocess },
    /imagefolder\/n03063599\/ILSVRC2012_val_00000001\.JPEG: its label n03063599 is not among the model's 3 wnids/,
  );
  await rejects(kaggleVal, { classIds: [SHUTTLE, MUG, TABBY], preprocess }, /val_00000012\.jpg: its label n01440764/);
});

Deno.test("imagenet: a flat folder without LOC_val_solution.csv says where it looked", async () => {
  const flat = join(root, "flat");
  await Deno.mkdir(flat);
  await Deno.copyFile(join(kaggleVal, name(1, "JPEG")), join(flat, name(1, "JPEG")));
  await rejects(
    flat,
    { classIds: WNIDS },
    new RegExp(`needs Kaggle's LOC_val_solution.csv .*looked in ${flat}, ${root}, `),
  );
  await Deno.writeTextFile(
    join(flat, "LOC_val_solution.csv"),
    "ImageId,PredictionString\nILSVRC2012_val_00000002,n03063599 1 2 3 4\n",
  );
  await rejects(flat, { classIds: WNIDS }, /ILSVRC2012_val_00000001\.JPEG: no label in .*flat\/LOC_val_solution\.csv/);
  await Deno.writeTextFile(join(flat, "LOC_val_solution.csv"), "id,label\n");
  await rejects(flat, { classIds: WNIDS }, /expected the header "ImageId,PredictionString"/);
});

Deno.test("imagenet: an empty folder, a wnid folder without images, a folder that is no wnid", async () => {
  const empty = join(root, "empty");
  await Deno.mkdir(join(empty, ".git"), { recursive: true });
  await rejects(
    empty,
    { classIds: WNIDS },
    /empty: no images \(expected one subfolder per wnid, or ILSVRC2012_val_\*\.JPEG/,
  );
  await Deno.mkdir(join(empty, TENCH));
  await rejects(empty, { classIds: WNIDS }, /empty: no \.jpeg, \.jpg or \.png images in its wnid subfolders/);
  await Deno.mkdir(join(empty, "cats"));
  await rejects(empty, { classIds: WNIDS }, /empty\/cats: not a WordNet id folder/);
});

Deno.test("imagenet: a corrupt image fails the stream as an InputError naming it", async () => {
  const broken = join(root, "broken");
  await Deno.mkdir(join(broken, TENCH), { recursive: true });
  await Deno.copyFile(join(kaggleVal, name(1, "JPEG")), join(broken, TENCH, name(1, "JPEG")));
  await Deno.writeFile(join(broken, TENCH, name(2, "JPEG")), new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]));
  const source = await openDataSource(`imagenet:${broken}`, { classIds: WNIDS, preprocess });
  await assert.rejects(stream(source), (e: Error) => e.name === "InputError" && e.message.includes(name(2, "JPEG")));
  assert.equal(runningDecodeWorkers(), 0);
});

Deno.test({ name: "imagenet source test: clean up", fn: () => Deno.remove(root, { recursive: true }) });
