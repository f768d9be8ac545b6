/**
 * Class hierarchies: a JSON tree `{name, children?}` of any depth (WordNet-like for ImageNet) whose
 * leaves include every class of a model exactly once. Audits use it to tell a confusion between
 * sibling classes from one between far-apart classes.
 *
 * Definitions (depth counts edges from the root, which has depth 0):
 * - `lcaDepth(a, b)`: the depth of the lowest common ancestor of the leaves of classes a and b.
 * - `distance(a, b)`: the number of edges on the tree path from a to b, i.e. the steps from a up to
 *   their lowest common ancestor plus the steps down to b: `depth(a) + depth(b) - 2 lcaDepth(a, b)`.
 *   This is the path metric of the tree: zero exactly when a = b, symmetric, and it satisfies the
 *   triangle inequality. Two siblings are at distance 2; in a flat hierarchy every pair of distinct
 *   classes is at distance 2.
 * - `sameSuperclass(a, b, depth)`: a = b, or the lowest common ancestor is at `depth` or deeper,
 *   i.e. a and b share their ancestor at that depth (depth 1 = the root's children).
 * - `lcaHeight(a, b)`: the edges from a's leaf up to the lowest common ancestor,
 *   `depth(a) - lcaDepth(a, b)`; with a the label and b the prediction, the mistake severity of
 *   Bertinetto et al. 2020 measured from the label, which stays well defined when leaves lie at
 *   different depths.
 *
 * A hierarchy comes from a file (`loadHierarchy`), or from code (`Hierarchy.fromTree`, whose leaves
 * name their class by index: the WordNet hierarchy of model/wordnet.ts).
 *
 * Leaves that name no model class are allowed (a hierarchy may cover more classes than a model)
 * and do not change any distance between classes.
 *
 * @example
 * ```ts
 * const classes = ["T-shirt/top", "Trouser", "Pullover"];
 * const h = await loadHierarchy("fixtures/hierarchies/fashion.json", classes);
 * h.distance(0, 2); // T-shirt/top to Pullover: 2 (siblings under "tops")
 * h.sameSuperclass(0, 2, 1); // true
 * ```
 */
import { z } from "zod";
import { InputError } from "../io/input_error.ts";
import { parseJson } from "../io/json_text.ts";

/** One node of a hierarchy file; a node without children (or with none) is a leaf. */
export interface HierarchyNode {
  name: string;
  children?: HierarchyNode[];
}

/** A node of a hierarchy built in code: a class leaf carries its class's index. */
export interface ClassTreeNode extends HierarchyNode {
  children?: ClassTreeNode[];
  /** The class this leaf stands for (index into the model's classes). */
  classIndex?: number;
}

/** The zod schema of a hierarchy file (recursive, any depth). */
export const HierarchyNodeSchema: z.ZodType<HierarchyNode> = z.object({
  name: z.string().min(1),
  get children() {
    return z.array(HierarchyNodeSchema).optional();
  },
});

/** A validated hierarchy over a model's classes (indexed as in the manifest). */
export class Hierarchy {
  /** For each class, the ids of the nodes from the root down to its leaf. */
  readonly #paths: number[][];
  /** Node names by id (root = 0). */
  readonly #names: string[];

  private constructor(
    readonly classes: readonly string[],
    paths: number[][],
    names: string[],
    readonly source: string,
    /** How the tree was derived from its source, where that needed a choice; null for a file's tree. */
    readonly rule: string | null,
  ) {
    this.#paths = paths;
    this.#names = names;
  }

  /**
   * Validates a parsed hierarchy JSON against the model's classes: every class must be a leaf
   * exactly once. Problems are InputErrors naming `source`.
   *
   * @example
   * ```ts
   * const h = Hierarchy.fromJson({ name: "all", children: [{ name: "cat" }, { name: "dog" }] }, ["cat", "dog"], "h.json");
   * h.distance(0, 1); // 2
   * ```
   */
  static fromJson(json: unknown, classes: readonly string[], source: string): Hierarchy {
    const parsed = HierarchyNodeSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(`${source}: invalid hierarchy at ${issue.path.join(".") || "top level"}: ${issue.message}`);
    }
    const classIndex = new Map(classes.map((c, i) => [c, i]));
    return Hierarchy.#build(parsed.data, classes, source, null, (node) => classIndex.get(node.name));
  }

  /**
   * A hierarchy built in code, whose class leaves are marked by their class index (`classIndex`)
   * rather than matched by name, so classes may share a display name. `rule` says how the tree was
   * derived (e.g. which of several hypernym paths was kept); it is shown beside `source`.
   *
   * @example
   * ```ts
   * const root = { name: "animal", children: [{ name: "crane", classIndex: 0 }, { name: "crane", classIndex: 1 }] };
   * const h = Hierarchy.fromTree(root, ["crane (bird)", "crane (bird, again)"], "code", "by hand");
   * h.distance(0, 1); // 2
   * ```
   */
  static fromTree(root: ClassTreeNode, classes: readonly string[], source: string, rule: string): Hierarchy {
    return Hierarchy.#build(root, classes, source, rule, (node) => node.classIndex);
  }

  /** Walks the tree, giving each node an id, and checks that every class is a leaf exactly once. */
  static #build<N extends HierarchyNode>(
    root: N,
    classes: readonly string[],
    source: string,
    rule: string | null,
    classOf: (node: N) => number | undefined,
  ): Hierarchy {
    const paths: (number[] | undefined)[] = new Array(classes.length);
    const names: string[] = [];
    const visit = (node: N, above: number[]) => {
      const id = names.length;
      names.push(node.name);
      const path = [...above, id];
      const children = (node.children ?? []) as N[];
      const index = classOf(node);
      if (children.length > 0) {
        if (index !== undefined) {
          throw new InputError(`${source}: class "${node.name}" is an inner node of the hierarchy; it must be a leaf`);
        }
        for (const child of children) visit(child, path);
      } else if (index !== undefined) {
        if (paths[index]) throw new InputError(`${source}: class "${node.name}" is a leaf more than once`);
        paths[index] = path;
      }
    };
    visit(root, []);
    const missing = classes.filter((_, i) => !paths[i]);
    if (missing.length > 0) {
      throw new InputError(
        `${source}: class(es) ${missing.map((c) => `"${c}"`).join(", ")} are not leaves of the hierarchy`,
      );
    }
    return new Hierarchy(classes, paths as number[][], names, source, rule);
  }

  /** The hierarchy used when none is given: every class a child of one root. */
  static flat(classes: readonly string[]): Hierarchy {
    return Hierarchy.fromJson({ name: "all classes", children: classes.map((name) => ({ name })) }, classes, "flat");
  }

  /** Depth of a class's leaf (edges from the root). */
  depth(a: number): number {
    return this.#path(a).length - 1;
  }

  /** Depth of the lowest common ancestor of two classes (a class is its own ancestor). */
  lcaDepth(a: number, b: number): number {
    const pa = this.#path(a), pb = this.#path(b);
    let shared = 0;
    while (shared < pa.length && shared < pb.length && pa[shared] === pb[shared]) shared++;
    return shared - 1;
  }

  /**
   * Edges from class a's leaf up to the lowest common ancestor of a and b: the height of that
   * ancestor as seen from a (Bertinetto et al. 2020's mistake severity, with a the label). Zero
   * exactly when a = b; not symmetric when the leaves' depths differ.
   */
  lcaHeight(a: number, b: number): number {
    return this.depth(a) - this.lcaDepth(a, b);
  }

  /** Edges on the tree path between two classes' leaves (a metric; see the module comment). */
  distance(a: number, b: number): number {
    return this.depth(a) + this.depth(b) - 2 * this.lcaDepth(a, b);
  }

  /**
   * Whether two classes share their ancestor at `depth` (>= 1): their LCA is at least that deep.
   * A class is always in its own superclass, even when its leaf is shallower than `depth`.
   */
  sameSuperclass(a: number, b: number, depth: number): boolean {
    if (!Number.isInteger(depth) || depth < 1) {
      throw new Error(`superclass depth must be an integer >= 1, got ${depth}`);
    }
    return a === b || this.lcaDepth(a, b) >= depth;
  }

  /** Name of a class's ancestor at `depth` (the class itself when its leaf is shallower). */
  superclass(a: number, depth: number): string {
    const path = this.#path(a);
    return this.#names[path[Math.min(depth, path.length - 1)]];
  }

  /** Depth of the deepest class leaf. */
  get maxDepth(): number {
    return Math.max(...this.classes.map((_, i) => this.depth(i)));
  }

  #path(a: number): number[] {
    const path = this.#paths[a];
    if (!path) throw new Error(`class index ${a} is not one of the ${this.classes.length} classes`);
    return path;
  }
}

/**
 * Reads and validates a hierarchy file for a model's classes; a missing or malformed file is an
 * InputError naming the path.
 *
 * @example
 * ```ts
 * declare const classes: string[];
 * const h = await loadHierarchy("fixtures/hierarchies/fashion.json", classes);
 * ```
 */
export async function loadHierarchy(path: string, classes: readonly string[]): Promise<Hierarchy> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`${path}: hierarchy file not found`);
    throw e;
  }
  return Hierarchy.fromJson(parseJson(text, path), classes, path);
}
