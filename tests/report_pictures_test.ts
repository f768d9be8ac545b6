import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { decode as decodePng, encode as encodePng } from "fast-png";
import { decode as decodeJpeg, encode as encodeJpeg } from "jpeg-js";
import { AssetWriter } from "../pipeline/audit/assets.ts";
import { decodeImage } from "../pipeline/data/decode_image.ts";
import { fitTile } from "../pipeline/explain/fit_tile.ts";
import { gridPicture, PHOTO_SIDE, type Tile } from "../pipeline/explain/image_grid.ts";
import { renderReportHtml } from "../pipeline/report/html.ts";
import { pictureSize } from "../pipeline/report/picture_size.ts";
import { assetPath, AssetPathSchema } from "../pipeline/schema/asset_path.ts";
import { sampleReportFolder } from "./report_fixture.ts";

/** A tile from rows of [r, g, b] pixels. */
function tileOf(pixels: number[][][]): Tile {
  return { height: pixels.length, width: pixels[0].length, rgb: Uint8Array.from(pixels.flat(2)) };
}

/** Rows of [r, g, b] pixels of an RGB(A) buffer. */
function pixelsOf(width: number, height: number, data: ArrayLike<number>, channels = 3): number[][][] {
  return Array.from(
    { length: height },
    (_, y) => Array.from({ length: width }, (_, x) => [0, 1, 2].map((k) => data[(y * width + x) * channels + k])),
  );
}

const SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data";

/** A 224x224 crop of scikit-image's cat photo (451x300), from its top left corner plus (`left`, `top`). */
async function catTile(left = 100, top = 40): Promise<Tile> {
  const path = join(SKIMAGE, "chelsea.png");
  const raw = decodeImage(await Deno.readFile(path), path);
  assert.equal(raw.channels, 3);
  const side = 224;
  const rgb = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side * 3; x++) rgb[y * side * 3 + x] = raw.data[((top + y) * raw.width + left) * 3 + x];
  }
  return { height: side, width: side, rgb };
}

Deno.test("fitTile enlarges a tile smaller than the cell by floor(cell / side), each pixel a block", () => {
  const a = [10, 20, 30], b = [40, 50, 60];
  // Side 2 in a 5 px cell: x2 (not 2.5), so 4x2.
  const fitted = fitTile(tileOf([[a, b]]), 5);
  assert.deepEqual(pixelsOf(fitted.width, fitted.height, fitted.rgb), [[a, a, b, b], [a, a, b, b]]);
  // A tile the cell's size is left as it is.
  const same = tileOf([[a, b], [b, a]]);
  assert.deepEqual(fitTile(same, 2), same);
});

Deno.test("fitTile reduces a tile larger than the cell by ceil(side / cell), each pixel its block's mean", () => {
  // 3x3 in a 2 px cell: /2 (ceil(1.5)); the right column and bottom row are half blocks.
  const v = [[0, 10, 20], [30, 40, 50], [60, 70, 81]];
  const tile = tileOf(v.map((row) => row.map((x) => [x, 255 - x, 7])));
  const fitted = fitTile(tile, 2);
  assert.deepEqual([fitted.width, fitted.height], [2, 2]);
  // By hand: red (0+10+30+40)/4 = 20, (20+50)/2 = 35, (60+70)/2 = 65, 81; green is 255 minus red.
  assert.deepEqual(pixelsOf(2, 2, fitted.rgb), [
    [[20, 235, 7], [35, 220, 7]],
    [[65, 190, 7], [81, 174, 7]],
  ]);
  // Rounded to the nearest byte: (1+2+2+2)/4 = 1.75.
  const round = fitTile(tileOf([[[1, 1, 1], [2, 2, 2]], [[2, 2, 2], [2, 2, 2]]]), 1);
  assert.deepEqual(Array.from(round.rgb), [2, 2, 2]);
  // A wide tile is scaled by its longer side: 4x2 in a 3 px cell is halved, to 2x1.
  const wide = fitTile(
    tileOf([[[0, 0, 0], [2, 2, 2], [4, 4, 4], [8, 8, 8]], [[0, 0, 0], [2, 2, 2], [4, 4, 4], [8, 8, 8]]]),
    3,
  );
  assert.deepEqual(pixelsOf(wide.width, wide.height, wide.rgb), [[[1, 1, 1], [6, 6, 6]]]);
});

Deno.test("fitTile: the report's cells give 28 px digits x4, x2, x3 and 224 px photos 112, 56 and 75 px", () => {
  const side = (n: number, cell: number) => fitTile({ height: n, width: n, rgb: new Uint8Array(n * n * 3) }, cell);
  assert.deepEqual([112, 56, 84].map((cell) => side(28, cell).width), [112, 56, 84]);
  // 224 / 2, 224 / 4, and ceil(224 / 3) = 75.
  assert.deepEqual([112, 56, 84].map((cell) => side(224, cell).width), [112, 56, 75]);
});

Deno.test("gridPicture lays fitted tiles out in cells with gaps, as PNG for small tiles", () => {
  const a = [200, 0, 0], b = [0, 0, 200], w = [255, 255, 255];
  const picture = gridPicture([[tileOf([[a]]), null, tileOf([[b]])]], { cell: 2, gap: 1 });
  assert.equal(picture.format, "png");
  const png = decodePng(picture.bytes);
  // Three 2 px cells with 1 px gaps around them: 3 * (2 + 1) + 1 wide, 2 + 2 high.
  assert.deepEqual([png.width, png.height, png.channels], [10, 4, 3]);
  const row = [w, a, a, w, w, w, w, b, b, w];
  assert.deepEqual(pixelsOf(10, 4, png.data), [w, row, row, w].map((r) => (r === w ? new Array(10).fill(w) : r)));
});

Deno.test("gridPicture writes JPEG once a tile is a photograph (a side above 64 px), PNG up to 64", () => {
  const flat = (side: number) => ({ height: side, width: side, rgb: new Uint8Array(side * side * 3).fill(90) });
  assert.equal(PHOTO_SIDE, 64);
  assert.equal(gridPicture([[flat(64)]], { cell: 64 }).format, "png");
  const jpg = gridPicture([[flat(65)]], { cell: 64 });
  assert.equal(jpg.format, "jpg");
  assert.deepEqual([jpg.bytes[0], jpg.bytes[1]], [0xff, 0xd8]);
});

Deno.test("a 224 px photo as a single asset: a 112 px JPEG close to the photo's 2x2 block means", async () => {
  const photo = await catTile();
  const dir = await Deno.makeTempDir();
  try {
    const path = await new AssetWriter(dir).tile("mistake-7", photo);
    assert.equal(path, "assets/mistake-7.jpg");
    const bytes = await Deno.readFile(join(dir, path));
    const decoded = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false });
    assert.deepEqual([decoded.width, decoded.height], [112, 112]);
    // The expected thumbnail: each pixel the mean of a 2x2 block of the photo.
    let error = 0;
    for (let y = 0; y < 112; y++) {
      for (let x = 0; x < 112; x++) {
        for (let k = 0; k < 3; k++) {
          const at = (sy: number, sx: number) => photo.rgb[(sy * 224 + sx) * 3 + k];
          const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          error += Math.abs(decoded.data[(y * 112 + x) * 3 + k] - mean);
        }
      }
    }
    const meanError = error / (112 * 112 * 3);
    console.log(`112 px JPEG of a 224 px photo: ${bytes.length} bytes, mean abs error ${meanError.toFixed(2)} / 255`);
    // Quality 85 loses little: 3.6 levels on average on this crop of fur (2% of the range at most allowed).
    assert.ok(meanError < 5, `mean abs error ${meanError}`);
    assert.ok(bytes.length < 20_000, `${bytes.length} bytes`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pictureSize reads PNG and JPEG (baseline, and progressive after EXIF and ICC segments) sizes", async () => {
  const png = encodePng({ width: 5, height: 3, data: new Uint8Array(45), channels: 3, depth: 8 });
  assert.deepEqual(pictureSize("a.png", "png", png), { width: 5, height: 3 });
  const baseline = encodeJpeg({ width: 37, height: 23, data: new Uint8Array(37 * 23 * 4) }, 85).data;
  assert.deepEqual(pictureSize("a.jpg", "jpg", new Uint8Array(baseline)), { width: 37, height: 23 });
  // Pillow's progressive JPEG (SOF2), its frame header after APP0, APP1 (EXIF) and APP2 (ICC).
  const path = await Deno.makeTempFile({ suffix: ".jpg" });
  try {
    const script = "import sys; from PIL import Image; e = Image.Exif(); e[0x010e] = 'a test'; " +
      "Image.new('RGB', (41, 19), (200, 10, 10)).save(sys.argv[1], 'JPEG', progressive=True, exif=e, " +
      "icc_profile=b'x' * 300)";
    const made = await new Deno.Command("/usr/bin/python3", { args: ["-c", script, path] }).output();
    assert.equal(made.code, 0, new TextDecoder().decode(made.stderr));
    const bytes = await Deno.readFile(path);
    const markers = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc2);
    assert.ok(markers > 300, "a progressive frame header after the ICC profile");
    assert.deepEqual(pictureSize("b.jpg", "jpg", bytes), { width: 41, height: 19 });
  } finally {
    await Deno.remove(path);
  }
  assert.throws(() => pictureSize("c.jpg", "jpg", png), /assets? c\.jpg is not a JPEG file/);
  assert.throws(() => pictureSize("d.png", "png", new Uint8Array(baseline)), /d\.png is not a PNG file/);
  // Only the start of a JPEG: no frame header.
  assert.throws(() => pictureSize("e.jpg", "jpg", new Uint8Array(baseline).subarray(0, 20)), /start-of-frame/);
});

Deno.test("asset paths: .png and .jpg under assets/, nothing else", () => {
  assert.equal(assetPath("bias-3", "jpg"), "assets/bias-3.jpg");
  assert.equal(assetPath("bias-3", "png"), "assets/bias-3.png");
  for (const ok of ["assets/a.png", "assets/a.jpg", "assets/x-1_2.3.png"]) {
    assert.ok(AssetPathSchema.safeParse(ok).success);
  }
  for (const bad of ["assets/a.jpeg", "assets/a.gif", "assets/../a.png", "assets/sub/a.jpg", "a.jpg", "assets/.jpg"]) {
    assert.ok(!AssetPathSchema.safeParse(bad).success, bad);
  }
});

Deno.test("report html embeds a JPEG asset as image/jpeg at its stated size", async () => {
  const { dir, report } = await sampleReportFolder();
  try {
    const path = await new AssetWriter(dir).tile("mistake-photo", await catTile());
    report.explanations!.mistakes[0].image = path;
    const html = await renderReportHtml(report, (p) => Deno.readFile(join(dir, p)));
    const base64 = Buffer.from(await Deno.readFile(join(dir, path))).toString("base64");
    assert.ok(html.includes(`<img src="data:image/jpeg;base64,${base64}" width="112" height="112"`));
    // The PNGs beside it stay PNG.
    assert.ok(html.includes("data:image/png;base64,"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
