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
 * whole-number index (below `count` when given), a non-empty group name without commas, quotes or
 * control characters, each index once. Blank lines are ignored; CRLF line ends and a byte-order
 * mark are accepted. Any bad row is an InputError naming the file, the line and what is wrong.
 */
export function parseGroupsCsv(text: string, source: string, options: { count?: number } = {}): Groups {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const header = lines[0]?.split(",").map((h) => h.trim());
  if (header?.length !== 2 || header[0] !== "index" || header[1] !== "group") {
    throw new InputError(`${source}:1: the header must be "index,group", got ${JSON.stringify(lines[0] ?? "")}`);
  }
  const groups: Groups = new Map();
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 2}`;
    const fields = line.split(",").map((f) => f.trim());
    if (fields.length !== 2) throw new InputError(`${where}: expected 2 fields "index,group", got ${fields.length}`);
    fields.forEach((field, f) => {
      // A NUL or an escape sequence in a name would reach the terminal and the report as it is.
      const control = field.match(/\p{Cc}/u)?.[0];
      if (control !== undefined) {
        const code = `U+${control.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
        throw new InputError(`${where}: field ${f + 1} holds the control character ${code}; names must be printable`);
      }
    });
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

/** Reads and parses a groups CSV file (see parseGroupsCsv); text that is not UTF-8 is an InputError naming the line. */
export async function readGroupsFile(path: string, options: { count?: number } = {}): Promise<Groups> {
  return parseGroupsCsv(decodeUtf8(await readInputFile(path), path), path, options);
}

/** Decodes UTF-8 strictly (a bad byte is not replaced by U+FFFD); a bad line is named by number. */
function decodeUtf8(bytes: Uint8Array, source: string): string {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  try {
    return decoder.decode(bytes);
  } catch {
    // A newline byte is never part of a multi-byte sequence, so each line decodes on its own.
    for (let start = 0, line = 1; start <= bytes.length; line++) {
      const end = bytes.indexOf(0x0a, start);
      const stop = end < 0 ? bytes.length : end;
      try {
        decoder.decode(bytes.subarray(start, stop));
      } catch {
        throw new InputError(`${source}:${line}: not valid UTF-8 text`);
      }
      start = stop + 1;
    }
    throw new InputError(`${source}: not valid UTF-8 text`);
  }
}

/** Writes groups as CSV text with the `index,group` header, in index order. */
export function formatGroupsCsv(groups: Groups): string {
  const rows = [...groups].sort((a, b) => a[0] - b[0]).map(([index, group]) => `${index},${group}`);
  return ["index,group", ...rows].join("\n") + "\n";
}
