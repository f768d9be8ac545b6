/**
 * Group metadata for the bias findings: a CSV file with the header `index,group`, one row per
 * example (`index` = the example's position in the data source's order). Examples the file does
 * not list belong to no group and are left out of the group statistics.
 *
 * @example
 * ```ts
 * const groups = parseGroupsCsv("index,group\n0,marked\n1,clean\n", "groups.csv");
 * groups.get(0); // "marked"
 * ```
 */
import { readInputFile } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";

/** Example index -> group name. */
export type Groups = Map<number, string>;

/**
 * Parses and validates a groups CSV: the header `index,group`, then `INDEX,GROUP` rows with a
 * whole-number index (below `count` when given), a non-empty group name without commas or quotes,
 * each index once. Blank lines are ignored; CRLF line ends and a byte-order mark are accepted.
 * Any bad row is an InputError naming the file, the line and what is wrong.
 */
export function parseGroupsCsv(text: string, source: string, options: { count?: number } = {}): Groups {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = lines[0]?.split(",").map((h) => h.trim());
  if (header?.length !== 2 || header[0] !== "index" || header[1] !== "group") {
    throw new InputError(`${source}:1: the header must be "index,group", got "${lines[0] ?? ""}"`);
  }
  const groups: Groups = new Map();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 2}`;
    const fields = line.split(",").map((f) => f.trim());
    if (fields.length !== 2) throw new InputError(`${where}: expected 2 fields "index,group", got ${fields.length}`);
    const [indexText, group] = fields;
    if (!/^\d+$/.test(indexText)) throw new InputError(`${where}: index "${indexText}" is not a whole number`);
    const index = Number(indexText);
    if (options.count !== undefined && index >= options.count) {
      throw new InputError(`${where}: index ${index} is past the data set's last example (${options.count - 1})`);
    }
    if (group === "" || group.includes('"')) throw new InputError(`${where}: group name "${group}" is empty or quoted`);
    if (groups.has(index)) throw new InputError(`${where}: index ${index} is listed twice`);
    groups.set(index, group);
  });
  if (groups.size === 0) throw new InputError(`${source}: no rows after the header`);
  return groups;
}

/** Reads and parses a groups CSV file (see parseGroupsCsv). */
export async function readGroupsFile(path: string, options: { count?: number } = {}): Promise<Groups> {
  return parseGroupsCsv(new TextDecoder().decode(await readInputFile(path)), path, options);
}

/** Writes groups as CSV text with the `index,group` header, in index order. */
export function formatGroupsCsv(groups: Groups): string {
  const rows = [...groups].sort((a, b) => a[0] - b[0]).map(([index, group]) => `${index},${group}`);
  return ["index,group", ...rows].join("\n") + "\n";
}
