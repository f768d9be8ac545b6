/**
 * Paths that a file names (a manifest's hierarchy, an ONNX tensor's external data, a report's
 * picture) stay inside the folder they are relative to: an absolute path, a `..` that climbs out,
 * or a symbolic link that leads out is refused, so a model or report folder from elsewhere cannot
 * make the tool read (and quote) files beyond it.
 *
 * @example
 * ```ts
 * const path = await insideFolder("models/net", "hierarchy.json", "models/net/manifest.json: hierarchy");
 * const picture = await regularFileInside("audit-report", "assets/clean-0.png"); // null: not there, or not served
 * ```
 */
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { InputError } from "./input_error.ts";

/** Whether `target` lies outside `base` (both absolute); `base` itself counts as inside. */
function leaves(base: string, target: string): boolean {
  const rel = relative(base, target);
  return rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel);
}

/** Whether `path`, read as relative to `folder`, climbs out of it before any link is followed. */
function climbsOut(folder: string, path: string): boolean {
  return isAbsolute(path) || leaves(resolve(folder), resolve(folder, path));
}

/**
 * The real path (symbolic links resolved) of `path` relative to `folder`, which must be inside
 * `folder`'s real path and not `folder` itself. `what` names where the path was written, as in
 * `model/manifest.json: hierarchy`; a path that leads out, or names nothing, is an InputError
 * with `what` and the path (never anything read from the file it names).
 *
 * @example
 * ```ts
 * // An ONNX tensor's external data, relative to the model file's folder.
 * const data = await insideFolder("models", "resnet.bin", 'models/resnet.onnx: initializer "w": external data location');
 * ```
 */
export async function insideFolder(folder: string, path: string, what: string): Promise<string> {
  const named = `${what} ${JSON.stringify(path)}`;
  const refuse = (how: string) => new InputError(`${named} points outside the folder ${folder}${how}; refused`);
  if (climbsOut(folder, path)) throw refuse("");
  let real: string;
  try {
    real = await Deno.realPath(join(folder, path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      throw new InputError(`${named}: no such file in ${folder}`);
    }
    if (e instanceof Deno.errors.PermissionDenied) throw new InputError(`${named}: permission denied`);
    throw e;
  }
  const base = await Deno.realPath(folder);
  if (leaves(base, real)) throw refuse(" through a symbolic link");
  if (real === base) throw new InputError(`${named} names the folder ${folder} itself, not a file in it`);
  return real;
}

/**
 * The real path of `path` relative to `folder` when it is a regular file (not a symbolic link, a
 * folder, a FIFO or a device) whose real location is inside `folder`; null otherwise, including
 * when nothing is there. For serving and embedding a folder's own files.
 *
 * @example
 * ```ts
 * const real = await regularFileInside("audit-report", "assets/clean-0.png");
 * if (real) console.log((await Deno.readFile(real)).length);
 * ```
 */
export async function regularFileInside(folder: string, path: string): Promise<string | null> {
  if (climbsOut(folder, path)) return null;
  const full = join(folder, path);
  try {
    if (!(await Deno.lstat(full)).isFile) return null;
    // A folder on the way (assets/ itself) may still be a link that leads out.
    const real = await Deno.realPath(full);
    return leaves(await Deno.realPath(folder), real) ? null : real;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}
