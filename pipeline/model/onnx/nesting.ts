/**
 * A bound on how deeply an ONNX file's messages nest, checked without recursion before
 * protobufjs decodes it: the generated decoder recurses once per nested message (and once per
 * nested group when it skips unknown fields), so a file of subgraphs within subgraphs, or of
 * start-group tags, could overflow the stack. Only the fields through which messages can recurse
 * are followed (graphs in attributes, nodes in graphs and functions, types in types); every other
 * field is skipped by its wire type. Malformed bytes end the scan and are left to the decoder.
 *
 * @example
 * ```ts
 * checkNesting(await Deno.readFile("net.onnx"), "net.onnx");
 * ```
 */
import { InputError } from "../../io/input_error.ts";

/** The deepest nesting read: a model, its graph, a node, an attribute's subgraph... about 20 subgraphs deep. */
export const MAX_NESTING = 64;

/** For each message that can recurse, the fields (by number) that hold a message of that kind. */
const CHILDREN: Record<string, Record<number, string>> = {
  Model: { 7: "Graph", 20: "TrainingInfo", 25: "Function" },
  TrainingInfo: { 1: "Graph", 2: "Graph" },
  Function: { 7: "Node" },
  Graph: { 1: "Node", 11: "ValueInfo", 12: "ValueInfo", 13: "ValueInfo" },
  Node: { 5: "Attribute" },
  Attribute: { 6: "Graph", 11: "Graph", 14: "Type", 15: "Type" },
  ValueInfo: { 2: "Type" },
  Type: { 4: "Sequence", 5: "Map", 9: "Optional" },
  Sequence: { 1: "Type" },
  Map: { 2: "Type" },
  Optional: { 1: "Type" },
};

/** An open message (its kind, or null for a group) and where its bytes end. */
interface Frame {
  kind: string | null;
  end: number;
}

/**
 * Throws an InputError naming `source` when the ModelProto in `bytes` nests messages or groups
 * more than MAX_NESTING deep.
 *
 * @example
 * ```ts
 * declare const bytes: Uint8Array;
 * checkNesting(bytes, "model.onnx"); // returns, or throws an InputError
 * ```
 */
export function checkNesting(bytes: Uint8Array, source: string): void {
  let at = 0;
  const varint = (): number | undefined => {
    let value = 0;
    for (let scale = 1, i = 0; i < 8 && at < bytes.length; i++, scale *= 128) {
      const b = bytes[at++];
      value += (b & 127) * scale;
      if (b < 128) return value;
    }
    return undefined; // truncated, or beyond any length a file can have
  };
  const stack: Frame[] = [{ kind: "Model", end: bytes.length }];
  const open = (frame: Frame) => {
    stack.push(frame);
    if (stack.length > MAX_NESTING) {
      throw new InputError(`${source}: ONNX messages nest deeper than ${MAX_NESTING} levels; refused before decoding`);
    }
  };
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    if (at >= top.end) {
      if (top.kind === null) return; // a group left open: malformed
      stack.pop();
      continue;
    }
    const tag = varint();
    if (tag === undefined) return;
    const [field, wire] = [Math.floor(tag / 8), tag % 8];
    if (wire === 0) {
      if (varint() === undefined) return;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const length = varint();
      if (length === undefined || at + length > top.end) return;
      const kind = top.kind === null ? undefined : CHILDREN[top.kind]?.[field];
      if (kind) open({ kind, end: at + length });
      else at += length;
    } else if (wire === 3) open({ kind: null, end: top.end });
    else if (wire === 4 && top.kind === null) stack.pop();
    else return;
  }
}
