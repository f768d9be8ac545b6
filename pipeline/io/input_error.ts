/**
 * An error the user can fix (bad flag, bad file): the CLI prints its one line and exits 2.
 *
 * @example
 * ```ts
 * new InputError('x.csv:2: group "a\nb" is quoted').message; // 'x.csv:2: group "a\\nb" is quoted'
 * ```
 */
export class InputError extends Error {
  override name = "InputError";
  constructor(message: string) {
    super(oneLine(message));
  }
}

/** Line breaks and other control characters, which messages quoting a file's bytes (or a codec's log) may hold. */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f\u2028\u2029]/g;

/**
 * Text made one printable line: every line break and control character becomes a visible escape
 * (`\n`, `\r`, `\u0000`), so a message that quotes a file's bytes still fits the contract's one line.
 *
 * @example
 * ```ts
 * oneLine("a\r\nb\u0000"); // "a\\r\\nb\\u0000"
 * ```
 */
export function oneLine(text: string): string {
  return text.replace(
    CONTROL,
    (c) => c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
