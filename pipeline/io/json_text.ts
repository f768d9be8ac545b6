/**
 * JSON parsing whose errors name the file and the place, never the text: the engine's own
 * messages quote the text around the error ("Unexpected token 'r', "root:x:0:0"..."), which would
 * echo a file that was never JSON (a path pointed at /etc/passwd) into the terminal.
 *
 * @example
 * ```ts
 * const manifest = parseJson('{"name": "digits"}', "model/manifest.json");
 * jsonErrorPlace('{"a": 1,}'); // "line 1, column 9"
 * ```
 */
import { InputError } from "./input_error.ts";

/**
 * Parses JSON text; a syntax error is an InputError `SOURCE: not valid JSON (line L, column C)`.
 *
 * @example
 * ```ts
 * parseJson("[1, 2 3]", "x.json"); // throws InputError "x.json: not valid JSON (line 1, column 7)"
 * ```
 */
export function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError(`${source}: not valid JSON (${jsonErrorPlace(text)})`);
  }
}

/**
 * Where JSON text stops being JSON, as "line L, column C" (both from 1; columns count UTF-16 code
 * units), at the same place Python's `json` module reports: the first character that cannot
 * continue the text (an unterminated string: its opening quote). "no error found" for valid JSON.
 *
 * @example
 * ```ts
 * jsonErrorPlace('{\n  "a": tru\n}'); // "line 2, column 8"
 * ```
 */
export function jsonErrorPlace(text: string): string {
  const at = syntaxErrorOffset(text);
  if (at < 0) return "no error found";
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  return `line ${line}, column ${at - (before.lastIndexOf("\n") + 1) + 1}`;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const ESCAPES = new Set(['"', "\\", "/", "b", "f", "n", "r", "t"]);

/** The offset of the first character a JSON text cannot have there, -1 when it is valid. */
function syntaxErrorOffset(text: string): number {
  // Iterative, with the open containers on a stack: a hostile file may nest without end.
  const open: ("{" | "[")[] = [];
  let i = 0;
  let expect: "value" | "value or ]" | "key" | "key or }" | "after value" = "value";
  const skipWhitespace = () => {
    WHITESPACE.lastIndex = i;
    WHITESPACE.test(text);
    i = WHITESPACE.lastIndex;
  };
  for (;;) {
    skipWhitespace();
    const c = text[i];
    if (expect === "after value") {
      const top = open.at(-1);
      if (top === undefined) return i < text.length ? i : -1;
      if (c === ",") expect = top === "{" ? "key" : "value";
      else if (c === (top === "{" ? "}" : "]")) open.pop();
      else return i;
      i++;
      continue;
    }
    if ((expect === "key or }" && c === "}") || (expect === "value or ]" && c === "]")) {
      open.pop();
      i++;
      expect = "after value";
      continue;
    }
    if (expect === "key" || expect === "key or }") {
      if (c !== '"') return i;
      const end = stringEnd(text, i);
      if (end < 0) return -end - 1;
      i = end;
      skipWhitespace();
      if (text[i] !== ":") return i;
      i++;
      expect = "value";
      continue;
    }
    if (c === "{" || c === "[") {
      open.push(c);
      i++;
      expect = c === "{" ? "key or }" : "value or ]";
      continue;
    }
    const end = c === '"' ? stringEnd(text, i) : literalEnd(text, i);
    if (end < 0) return -end - 1;
    i = end;
    expect = "after value";
  }
}

/** The offset just past the string opening at `start`, or -(offset of the error) - 1. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '"') return i + 1;
    if (c.charCodeAt(0) < 0x20) return -i - 1;
    if (c === "\\") {
      const next = text[i + 1];
      if (next === undefined) break;
      if (next === "u") {
        // Python names the "u" of a bad \uXXXX, but the backslash of any other bad escape.
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return -(i + 1) - 1;
        i += 5;
      } else if (ESCAPES.has(next)) i++;
      else return -i - 1;
    }
  }
  return -start - 1; // unterminated: Python names where it opened
}

/** The offset just past the number, `true`, `false` or `null` at `start`, or -start - 1. */
function literalEnd(text: string, start: number): number {
  for (const word of ["true", "false", "null"]) if (text.startsWith(word, start)) return start + word.length;
  NUMBER.lastIndex = start;
  return NUMBER.test(text) ? NUMBER.lastIndex : -start - 1;
}
