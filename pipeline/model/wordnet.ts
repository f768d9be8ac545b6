/**
 * The WordNet hierarchy of an ImageNet model: a tree over exactly the model's WordNet ids, built
 * from WordNet 3.0's noun data as Debian's `wordnet-base` installs it (`/usr/share/wordnet/data.noun`).
 * An ImageNet wnid such as "n02123045" is "n" and the 8-digit offset of a noun synset, and that
 * offset is the byte position of the synset's line in data.noun, so only the lines of the classes
 * and their ancestors are read (a seek each), not the 15 MB file.
 *
 * The tree:
 * - Hypernyms are the "@" (hypernym) and "@i" (instance hypernym) pointers to nouns: an instance
 *   synset (a named city, a person) has only "@i", and without it would have no way up.
 * - Every noun synset of WordNet 3.0 reaches `entity` (n00001740), the root. Where a synset has
 *   several hypernyms, its parent is the one on the longest path to `entity`: that keeps a class
 *   under its most specific is-a chain, where the shortest path (YOLO9000's WordTree rule) takes
 *   the shortcuts of secondary hypernyms (a tabby under "domestic animal" beside the dogs rather
 *   than under "feline"; a motorcycle under "container" rather than "motor vehicle"), and a mistake
 *   between near siblings would look as far as one between a cat and a dog. Among hypernyms equally
 *   deep the one with the smaller offset wins, so the tree is the same on every machine. The
 *   choice is made per synset, so all classes below a synset share its one path: a tree.
 * - A node is named by its synset's first lemma, underscores as spaces ("tabby", "domestic cat").
 * - A class's leaf is its synset's node. When a class's synset is also an ancestor of another
 *   class's synset, the class becomes a leaf child of its own synset's node (same name, one level
 *   deeper), so classes stay leaves and the other class stays below it.
 *
 * @example
 * ```ts
 * const h = await wordnetHierarchy(["n02123045", "n02123159", "n04266014"], ["tabby", "tiger cat", "space shuttle"]);
 * h.lcaHeight(0, 1); // 1: tabby and tiger cat are both domestic cats
 * h.superclass(0, 1); // "physical entity"
 * ```
 */
import { openInputFile, pathExists } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { type ClassTreeNode, Hierarchy } from "./hierarchy.ts";

/** Where Debian's wordnet-base installs WordNet 3.0's noun synsets. */
export const WORDNET_DATA_NOUN = "/usr/share/wordnet/data.noun";

/** The root of WordNet's noun hierarchy. */
export const ENTITY_WNID = "n00001740";

/** How the tree is cut from WordNet's hypernym graph, in a line (the report's `hierarchy.rule`). */
export const WORDNET_RULE = "longest hypernym path (@ and @i) to entity, ties to the smaller synset offset; " +
  "a class whose synset is another class's ancestor is a leaf under its own synset";

/** One noun synset as the tree needs it. */
export interface Synset {
  wnid: string;
  /** The first lemma, underscores as spaces. */
  name: string;
  /** The wnids of its "@" and "@i" noun pointers, in the line's order. */
  hypernyms: string[];
}

/**
 * The WordNet tree over `wnids` (one per class, in the model's output order; `classes` their display
 * names). `path` overrides data.noun's location. A missing data.noun, or a wnid that is no noun
 * synset there, is an InputError naming it.
 */
export async function wordnetHierarchy(
  wnids: readonly string[],
  classes: readonly string[],
  options: { path?: string } = {},
): Promise<Hierarchy> {
  if (wnids.length !== classes.length) throw new Error(`${wnids.length} wnids for ${classes.length} classes`);
  const path = options.path ?? WORDNET_DATA_NOUN;
  const synsets = await readAncestry(path, wnids, classes);
  const parent = chooseParents(synsets, path);
  const classOf = new Map(wnids.map((w, i) => [w, i]));
  const nodes = new Map<string, ClassTreeNode>();
  const nodeOf = (wnid: string): ClassTreeNode => {
    let node = nodes.get(wnid);
    if (!node) {
      node = { name: synsets.get(wnid)!.name, children: [] };
      nodes.set(wnid, node);
      const up = parent.get(wnid);
      if (up !== undefined) nodeOf(up).children!.push(node);
    }
    return node;
  };
  for (const wnid of wnids) nodeOf(wnid);
  for (const [wnid, node] of nodes) {
    const index = classOf.get(wnid);
    if (index === undefined) continue;
    if (node.children!.length === 0) node.classIndex = index;
    else node.children!.push({ name: node.name, classIndex: index });
  }
  const root = nodes.get(ENTITY_WNID)!;
  sortChildren(root, new Map([...nodes].map(([wnid, node]) => [node, wnid])));
  return Hierarchy.fromTree(root, classes, `WordNet 3.0 (${path})`, WORDNET_RULE);
}

/** Children in wnid order (a class's own leaf first), so the node ids do not depend on the model's class order. */
function sortChildren(node: ClassTreeNode, wnidOf: Map<ClassTreeNode, string>): void {
  const key = (n: ClassTreeNode) => wnidOf.get(n) ?? "";
  node.children?.sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  for (const child of node.children ?? []) sortChildren(child, wnidOf);
}

/** The synsets of the wnids and of all their hypernyms, up to entity: every way up, since the longest is chosen. */
async function readAncestry(
  path: string,
  wnids: readonly string[],
  classes: readonly string[],
): Promise<Map<string, Synset>> {
  if (!(await pathExists(path))) {
    throw new InputError(`${path}: WordNet 3.0 noun data not found (install wordnet-base)`);
  }
  using file = await openInputFile(path);
  const synsets = new Map<string, Synset>();
  for (const [i, wnid] of wnids.entries()) {
    const synset = await readSynset(file, wnid);
    if (!synset) {
      throw new InputError(`${path}: ${wnid} (class "${classes[i]}") is not a WordNet 3.0 noun synset`);
    }
    synsets.set(wnid, synset);
  }
  const queue = [...synsets.values()].flatMap((s) => s.hypernyms);
  while (queue.length > 0) {
    const wnid = queue.pop()!;
    if (synsets.has(wnid)) continue;
    const synset = await readSynset(file, wnid);
    if (!synset) throw new InputError(`${path}: hypernym ${wnid} is not a noun synset there; is it WordNet 3.0?`);
    synsets.set(wnid, synset);
    queue.push(...synset.hypernyms);
  }
  return synsets;
}

/**
 * Each synset's parent: its hypernym farthest from entity, ties to the smaller offset (see the
 * module comment). Entity has none.
 */
function chooseParents(synsets: Map<string, Synset>, path: string): Map<string, string> {
  const depth = new Map<string, number>([[ENTITY_WNID, 0]]);
  const depthOf = (wnid: string, below: Set<string>): number => {
    const known = depth.get(wnid);
    if (known !== undefined) return known;
    const { hypernyms } = synsets.get(wnid)!;
    if (hypernyms.length === 0) throw new InputError(`${path}: ${wnid} has no hypernym and is not entity`);
    if (below.has(wnid)) throw new InputError(`${path}: the hypernyms of ${wnid} form a cycle`);
    below.add(wnid);
    const d = 1 + Math.max(...hypernyms.map((h) => depthOf(h, below)));
    below.delete(wnid);
    depth.set(wnid, d);
    return d;
  };
  const parent = new Map<string, string>();
  for (const [wnid, { hypernyms }] of synsets) {
    if (wnid === ENTITY_WNID) continue;
    const best = [...hypernyms].sort((a, b) => depthOf(b, new Set()) - depthOf(a, new Set()) || (a < b ? -1 : 1))[0];
    parent.set(wnid, best);
  }
  return parent;
}

/** Bytes read per step when looking for a line's end (most lines are shorter; the longest is ~13 KB). */
const READ_STEP = 1024;

/**
 * The noun synset at a wnid's offset, or null when no synset line starts there (the byte before it
 * must end a line, and the line must begin with the offset and be a noun's).
 */
export async function readSynset(file: Deno.FsFile, wnid: string): Promise<Synset | null> {
  if (!/^n\d{8}$/.test(wnid)) return null;
  const offset = Number(wnid.slice(1));
  if (offset === 0) return null;
  await file.seek(offset - 1, Deno.SeekMode.Start);
  let bytes = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    const chunk = new Uint8Array(READ_STEP);
    const n = await file.read(chunk);
    if (n === null) break;
    const grown = new Uint8Array(bytes.length + n);
    grown.set(bytes);
    grown.set(chunk.subarray(0, n), bytes.length);
    end = grown.indexOf(0x0a, Math.max(1, bytes.length));
    bytes = grown;
  }
  if (bytes.length === 0 || bytes[0] !== 0x0a || end < 0) return null;
  return parseSynsetLine(new TextDecoder().decode(bytes.subarray(1, end)), wnid.slice(1));
}

/**
 * A data.noun line: `offset lex_filenum ss_type w_cnt (word lex_id)* p_cnt (symbol offset pos
 * source/target)* | gloss`, w_cnt in hex, p_cnt in decimal (WordNet's wndb(5) format). Null when
 * the line is not the noun synset at `offset`.
 */
export function parseSynsetLine(line: string, offset: string): Synset | null {
  const fields = line.split(" ");
  if (fields[0] !== offset || fields[2] !== "n") return null;
  const words = parseInt(fields[3], 16);
  const pointersAt = 4 + 2 * words;
  const pointers = Number(fields[pointersAt]);
  if (!(words > 0) || !Number.isInteger(pointers)) return null;
  const hypernyms: string[] = [];
  for (let p = 0; p < pointers; p++) {
    const [symbol, target, pos] = fields.slice(pointersAt + 1 + 4 * p, pointersAt + 4 + 4 * p);
    if ((symbol === "@" || symbol === "@i") && pos === "n") hypernyms.push(`n${target}`);
  }
  return { wnid: `n${offset}`, name: fields[4].replaceAll("_", " "), hypernyms };
}
