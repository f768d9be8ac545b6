/**
 * The saliency overlay PNG: the map alone, indexed colour, opacity growing with the heat, fitted
 * to the cell as the image's tile is, so the page can draw it over the image.
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { heatPicture, imageTile } from "../pipeline/explain/image_grid.ts";
import { fitTile } from "../pipeline/explain/fit_tile.ts";

Deno.test("heat overlay: a palette PNG of the map, the image's fitted size, transparent where cold and opaque at the peak", () => {
  for (const [side, cell] of [[28, 112], [224, 112], [10, 112]]) {
    const map = Float32Array.from({ length: side * side }, (_, q) => (q % side < side / 2 ? 0 : -(q % side)));
    const picture = heatPicture(map, side, side, cell);
    assert.equal(picture.format, "png");
    const png = decode(picture.bytes);
    const fitted = fitTile(imageTile(new Float32Array(side * side), [1, side, side]), cell);
    assert.deepEqual([png.width, png.height], [fitted.width, fitted.height], `${side} px map in a ${cell} px cell`);
    assert.equal(png.channels, 1);
    const palette = png.palette!;
    const alphas = palette.map((c) => c[3]);
    assert.ok(alphas.every((a, i) => i === 0 || a > alphas[i - 1]), "opacity grows with the heat");
    assert.equal(alphas[0], 102, "cold: 40% black, the image dimmed");
    assert.deepEqual(palette[palette.length - 1], [255, 255, 0, 255], "the peak: opaque yellow");
    const data = png.data as Uint8Array;
    assert.equal(data[0], 0, "a zero of the map is the coldest level");
    assert.equal(data[png.width - 1], palette.length - 1, "|map|'s maximum (a negative value) is the hottest");
  }
});
