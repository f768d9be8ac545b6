import assert from "node:assert/strict";
import fc from "fast-check";
import { FASHION_MNIST_CLASSES } from "../pipeline/data/mod.ts";
import { Hierarchy, type HierarchyNode, loadHierarchy } from "../pipeline/model/hierarchy.ts";
import { InputError } from "../pipeline/io/input_error.ts";

/** A random rooted tree as a parent array: node i > 0 hangs under a node before it. */
const parentsArb = fc.integer({ min: 3, max: 14 }).chain((n) =>
  fc.tuple(...Array.from({ length: n - 1 }, (_, i) => fc.integer({ min: 0, max: i })))
).filter((parents) => leavesOf(parents).length >= 2);

function leavesOf(parents: number[]): number[] {
  const n = parents.length + 1;
  const inner = new Set(parents);
  return Array.from({ length: n }, (_, i) => i).filter((i) => i > 0 && !inner.has(i));
}

/** The tree as hierarchy JSON, with node i named `n${i}`, and the leaves as classes (shuffled by `order`). */
function treeJson(parents: number[]): { json: HierarchyNode; classes: string[] } {
  const children = (id: number): HierarchyNode => {
    const kids = parents.flatMap((p, i) => (p === id ? [i + 1] : []));
    return kids.length > 0 ? { name: `n${id}`, children: kids.map(children) } : { name: `n${id}` };
  };
  return { json: children(0), classes: leavesOf(parents).reverse().map((i) => `n${i}`) };
}

/** Path length between two nodes by breadth-first search on the undirected tree: the oracle. */
function bfsDistance(parents: number[], from: number, to: number): number {
  const n = parents.length + 1;
  const adjacent: number[][] = Array.from({ length: n }, () => []);
  parents.forEach((p, i) => {
    adjacent[p].push(i + 1);
    adjacent[i + 1].push(p);
  });
  const seen = new Map([[from, 0]]);
  const queue = [from];
  while (queue.length > 0) {
    const u = queue.shift()!;
    for (const v of adjacent[u]) {
      if (!seen.has(v)) {
        seen.set(v, seen.get(u)! + 1);
        queue.push(v);
      }
    }
  }
  return seen.get(to)!;
}

/** Ancestor of node `id` at `depth` (itself when shallower), from the parent array. */
function ancestorAt(parents: number[], id: number, depth: number): number {
  const path = [id];
  while (path[0] !== 0) path.unshift(parents[path[0] - 1]);
  return path[Math.min(depth, path.length - 1)];
}

const nodeId = (name: string) => Number(name.slice(1));

Deno.test("hierarchy distance is the tree path length and a metric: identity, symmetry, triangle inequality", () => {
  fc.assert(
    fc.property(parentsArb, (parents) => {
      const { json, classes } = treeJson(parents);
      const h = Hierarchy.fromJson(json, classes, "random tree");
      const k = classes.length;
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) {
          const d = h.distance(a, b);
          assert.equal(d, bfsDistance(parents, nodeId(classes[a]), nodeId(classes[b])), `d(${a}, ${b})`);
          assert.equal(d === 0, a === b, `identity of indiscernibles for ${a}, ${b}`);
          assert.equal(d, h.distance(b, a), "symmetry");
          for (let c = 0; c < k; c++) assert.ok(h.distance(a, c) <= d + h.distance(b, c), "triangle inequality");
        }
      }
    }),
    { numRuns: 150 },
  );
});

Deno.test("same superclass at depth d means sharing the ancestor at depth d", () => {
  fc.assert(
    fc.property(parentsArb, fc.integer({ min: 1, max: 4 }), (parents, depth) => {
      const { json, classes } = treeJson(parents);
      const h = Hierarchy.fromJson(json, classes, "random tree");
      for (let a = 0; a < classes.length; a++) {
        for (let b = 0; b < classes.length; b++) {
          const [ia, ib] = [nodeId(classes[a]), nodeId(classes[b])];
          // Leaves shallower than d are their own ancestor there: they only share it with themselves.
          const expected = a === b ||
            (ancestorAt(parents, ia, depth) === ancestorAt(parents, ib, depth) &&
              ancestorAt(parents, ia, depth) !== ia && ancestorAt(parents, ib, depth) !== ib);
          assert.equal(h.sameSuperclass(a, b, depth), expected, `${classes[a]} ~ ${classes[b]} at depth ${depth}`);
        }
      }
    }),
    { numRuns: 150 },
  );
});

const FASHION = FASHION_MNIST_CLASSES;

Deno.test("the shipped fashion hierarchy: hand-counted distances and superclasses", async () => {
  const h = await loadHierarchy(new URL("../fixtures/hierarchies/fashion.json", import.meta.url).pathname, FASHION);
  const at = (name: string) => FASHION.indexOf(name);
  assert.equal(h.distance(at("T-shirt/top"), at("Pullover")), 2); // siblings under "tops"
  assert.equal(h.distance(at("T-shirt/top"), at("Dress")), 3); // tops -> clothing -> Dress
  assert.equal(h.distance(at("Sandal"), at("Coat")), 4); // footwear -> clothing -> tops
  assert.equal(h.distance(at("Bag"), at("Trouser")), 2);
  assert.equal(h.sameSuperclass(at("Sneaker"), at("Ankle boot"), 1), true);
  assert.equal(h.sameSuperclass(at("Shirt"), at("Dress"), 1), false);
  assert.equal(h.sameSuperclass(at("Shirt"), at("Coat"), 2), false);
  assert.equal(h.superclass(at("Coat"), 1), "tops");
  assert.equal(h.maxDepth, 2);
});

Deno.test("a flat hierarchy puts every pair of classes at distance 2 and in no shared superclass", () => {
  const h = Hierarchy.flat(["a", "b", "c"]);
  assert.equal(h.distance(0, 2), 2);
  assert.equal(h.distance(1, 1), 0);
  assert.equal(h.sameSuperclass(0, 1, 1), false);
  assert.equal(h.sameSuperclass(2, 2, 1), true);
});

Deno.test("a hierarchy that does not hold every class as a leaf exactly once is refused with a clear message", () => {
  const classes = ["cat", "dog"];
  const cases: [unknown, RegExp][] = [
    [{ name: "all", children: [{ name: "cat" }] }, /h\.json: class\(es\) "dog" are not leaves of the hierarchy/],
    [
      { name: "all", children: [{ name: "cat" }, { name: "pets", children: [{ name: "cat" }, { name: "dog" }] }] },
      /h\.json: class "cat" is a leaf more than once/,
    ],
    [
      { name: "all", children: [{ name: "dog", children: [{ name: "cat" }, { name: "puppy" }] }] },
      /h\.json: class "dog" is an inner node/,
    ],
    [{ name: "all", children: [{ name: "" }] }, /h\.json: invalid hierarchy at children\.0\.name/],
    [{ children: [] }, /h\.json: invalid hierarchy at name/],
  ];
  for (const [json, message] of cases) {
    assert.throws(
      () => Hierarchy.fromJson(json, classes, "h.json"),
      (e: Error) => e instanceof InputError && message.test(e.message),
    );
  }
  // Leaves beyond the model's classes are allowed.
  const h = Hierarchy.fromJson(
    { name: "all", children: [{ name: "cat" }, { name: "dog" }, { name: "fox" }] },
    classes,
    "h",
  );
  assert.equal(h.distance(0, 1), 2);
});

Deno.test("loading a missing or malformed hierarchy file is an InputError naming the file", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(loadHierarchy(`${dir}/none.json`, ["a", "b"]), /none\.json: hierarchy file not found/);
  await Deno.writeTextFile(`${dir}/bad.json`, "{ nope");
  await assert.rejects(loadHierarchy(`${dir}/bad.json`, ["a", "b"]), /bad\.json: not valid JSON/);
});
