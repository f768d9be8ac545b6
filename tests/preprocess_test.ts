/**
 * torchvision's evaluation transform reproduced: real photos (scikit-image's) re-encoded by PIL as
 * RGB, grey and CMYK JPEGs at ImageNet-like and odd sizes, decoded by both JPEG decoders and put
 * through `preprocessImage`, against PIL's `Image.open(p).convert("RGB")` and torchvision's
 * `Resize(256)`, `CenterCrop(224)`, `ToTensor()`, bilinear and bicubic, run by Debian's Python.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeImageWith, type JpegDecoder } from "../pipeline/data/decode_image.ts";
import { centreCropOffset, preprocessImage, resizedSize } from "../pipeline/data/preprocess.ts";
import type { RawImage } from "../pipeline/data/image.ts";
import { INTERPOLATIONS } from "../pipeline/schema/preprocess.ts";

type Interpolation = (typeof INTERPOLATIONS)[number];
import { runPython, SKIMAGE_DATA } from "./python_reference.ts";

/** Writes the JPEGs and, for each and each filter, torchvision's tensor as raw little-endian float32. */
const REFERENCE = `
import sys, json
from PIL import Image
import torchvision.transforms as T
data, out = sys.argv[1], sys.argv[2]
def photo(name, size=None):
    im = Image.open(f"{data}/{name}").convert("RGB")
    return im.resize(size, Image.LANCZOS) if size else im
def strip_adobe(path):  # a CMYK JPEG without Adobe's APP14 marker (PIL still reads it inverted)
    b = open(path, "rb").read()
    at = b.index(b"Adobe") - 4  # the marker, its 2-byte length, then "Adobe"
    open(path, "wb").write(b[:at] + b[at + 2 + ((b[at + 2] << 8) | b[at + 3]):])
files = {}
def save(name, im, **kw):
    im.save(f"{out}/{name}.jpg", quality=90, **kw); files[name] = f"{out}/{name}.jpg"
chelsea = photo("chelsea.png")  # 451x300
save("chelsea-rgb", chelsea)
save("chelsea-grey", chelsea.convert("L"))
save("chelsea-cmyk", chelsea.convert("CMYK"))
save("chelsea-cmyk-no-adobe", chelsea.convert("CMYK")); strip_adobe(files["chelsea-cmyk-no-adobe"])
coffee = photo("coffee.png", (500, 375))
save("coffee-500x375-rgb", coffee)
save("coffee-500x375-cmyk", coffee.convert("CMYK"))
save("coffee-500x375-rgb-444", coffee, subsampling=0)
exif = Image.Exif(); exif[0x0112] = 6  # "rotate 90": PIL does not apply it
save("coffee-500x375-rgb-exif-rotated", coffee, exif=exif.tobytes())
astronaut = photo("astronaut.png", (375, 500))
save("astronaut-375x500-rgb", astronaut)
save("astronaut-375x500-grey", astronaut.convert("L"))
save("rocket-333x257-rgb", photo("rocket.jpg", (333, 257)))
save("motorcycle-200x150-rgb", photo("motorcycle_left.png", (200, 150)))  # smaller than the resize
save("motorcycle-256x300-grey", photo("motorcycle_left.png", (256, 300)).convert("L"))  # short side already 256
modes = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}
for name, path in files.items():
    for interp, mode in modes.items():
        t = T.Compose([T.Resize(256, interpolation=mode), T.CenterCrop(224), T.ToTensor()])
        t(Image.open(path).convert("RGB")).numpy().astype("<f4").tofile(f"{out}/{name}.{interp}.f32")
sizes = {}
for name, path in files.items():  # PIL's own decoded RGB, to test the resampling alone
    rgb = Image.open(path).convert("RGB")
    open(f"{out}/{name}.rgb", "wb").write(rgb.tobytes()); sizes[name] = rgb.size
print(json.dumps(sizes))
`;

const dir = await Deno.makeTempDir({ prefix: "preprocess_test_" });
const sizes: Record<string, [number, number]> = JSON.parse(await runPython(REFERENCE, [SKIMAGE_DATA, dir]));
const names = Object.keys(sizes);

/** Largest |ours - torchvision| over every value, in 8-bit levels. */
async function maxError(name: string, interpolation: Interpolation, raw: RawImage): Promise<number> {
  const ours = preprocessImage(raw, { resize: 256, crop: 224, interpolation });
  const ref = new Float32Array((await Deno.readFile(join(dir, `${name}.${interpolation}.f32`))).buffer);
  assert.equal(ours.length, ref.length, `${name}: ${ours.length} values, torchvision ${ref.length}`);
  let max = 0;
  for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ours[i] - ref[i]));
  return max * 255;
}

async function decoded(name: string, decoder: JpegDecoder): Promise<RawImage> {
  const path = join(dir, `${name}.jpg`);
  return await decodeImageWith(await Deno.readFile(path), path, decoder);
}

Deno.test("preprocessImage on PIL's own decoded pixels equals torchvision exactly", async () => {
  for (const name of names) {
    const [width, height] = sizes[name];
    const raw = { width, height, channels: 3, maxValue: 255, data: await Deno.readFile(join(dir, `${name}.rgb`)) };
    for (const interpolation of INTERPOLATIONS) {
      assert.equal(await maxError(name, interpolation, raw), 0, `${name} ${interpolation}`);
    }
  }
});

Deno.test("preprocessImage with sharp's decoding is within 2/255 of PIL + torchvision on every photo", async () => {
  for (const name of names) {
    for (const interpolation of INTERPOLATIONS) {
      const error = await maxError(name, interpolation, await decoded(name, "sharp"));
      assert.ok(error <= 2 + 1e-4, `${name} ${interpolation}: ${error.toFixed(3)}/255 from torchvision`);
    }
  }
});

Deno.test("preprocessImage with jpeg-js: within 2/255 on grey and CMYK, 3/255 on 4:4:4 colour, 50/255 on 4:2:0", async () => {
  for (const name of names.filter((n) => !n.endsWith("no-adobe"))) {
    for (const interpolation of INTERPOLATIONS) {
      const error = await maxError(name, interpolation, await decoded(name, "jpeg-js"));
      // PIL writes grey, CMYK and -444 files without subsampling; colour ones 4:2:0, whose chroma
      // jpeg-js upsamples by repetition where libjpeg interpolates. Its YCbCr conversion truncates
      // where libjpeg rounds: one level, three after bicubic's overshoot.
      const bound = /grey|cmyk/.test(name) ? 2 : /444/.test(name) ? 3 : 50;
      assert.ok(error <= bound + 1e-4, `${name} ${interpolation}: ${error.toFixed(3)}/255 from torchvision`);
    }
  }
});

Deno.test("jpeg-js refuses a CMYK JPEG without Adobe's marker as an input error naming the file", async () => {
  const path = join(dir, "chelsea-cmyk-no-adobe.jpg");
  await assert.rejects(decodeImageWith(await Deno.readFile(path), path, "jpeg-js"), (e: Error) => {
    assert.equal(e.name, "InputError");
    assert.match(e.message, /chelsea-cmyk-no-adobe\.jpg/);
    return true;
  });
});

Deno.test("resizedSize and centreCropOffset follow torchvision's arithmetic, Python's rounding included", () => {
  // int(256 * 500 / 375) = 341; int(256 * 640 / 427) = 383 (383.7 truncated); a square stays square.
  assert.deepEqual(resizedSize(375, 500, 256), [256, 341]);
  assert.deepEqual(resizedSize(640, 427, 256), [383, 256]);
  assert.deepEqual(resizedSize(300, 300, 256), [256, 256]);
  // round(58.5) = 58 and round(59.5) = 60 in Python (half to even); round(16.0) = 16.
  assert.equal(centreCropOffset(341, 224), 58);
  assert.equal(centreCropOffset(343, 224), 60);
  assert.equal(centreCropOffset(256, 224), 16);
});

Deno.test({
  name: "preprocess test: clean up",
  fn: () => Deno.remove(dir, { recursive: true }),
});
