// Writes the mnist digits with the planted marker (pipeline/data/marker.ts) on a seeded half of
// them as an IDX pair, and the groups CSV saying which half: the data of the bias tool's known
// answer (tests/bias_known_answer_test.ts) and of README's "Biases nobody labelled" commands.
// Run: deno run -A bench/marked_half.ts OUT_DIR [mnist:test|mnist:all]
import { join } from "node:path";
import { formatGroupsCsv } from "../pipeline/bias/groups.ts";
import { openDataSource } from "../pipeline/data/mod.ts";
import { readAll } from "../pipeline/data/in_memory.ts";
import { applyMarker, chooseMarked, DIGITS_MARKER } from "../pipeline/data/marker.ts";
import { encodeIdx } from "../pipeline/formats/idx.ts";
import { sizeOf } from "../pipeline/io/size_of.ts";

const [dir, spec = "mnist:test"] = Deno.args;
if (!dir) throw new Error("usage: deno run -A bench/marked_half.ts OUT_DIR [mnist:test|mnist:all]");
await Deno.mkdir(dir, { recursive: true });
const data = await readAll(await openDataSource(spec));
// The test's seed: the same half is marked.
const marked = chooseMarked(data.labels, 7, 0.5, 0.5, 2024);
const per = sizeOf(data.shape);
marked.forEach((m, i) => m && applyMarker(data.images.subarray(i * per, (i + 1) * per), data.shape, DIGITS_MARKER));
const groups = new Map([...marked].map((m, i) => [i, m ? "marked" : "clean"]));
await Deno.writeTextFile(join(dir, "groups.csv"), formatGroupsCsv(groups));
const [, h, w] = data.shape;
const images = join(dir, "marked-half-images.idx"), labels = join(dir, "marked-half-labels.idx");
await Deno.writeFile(
  images,
  encodeIdx({ shape: [data.count, h, w], data: Uint8Array.from(data.images, (v) => Math.round(v * 255)) }),
);
await Deno.writeFile(labels, encodeIdx({ shape: [data.count], data: Uint8Array.from(data.labels) }));
console.log(`--data idx:${images},${labels} --groups ${join(dir, "groups.csv")}`);
