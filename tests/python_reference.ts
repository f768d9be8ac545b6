/**
 * Running Debian's Python (`/usr/bin/python3`, which has python3-pil, python3-torchvision and
 * python3-skimage; the `python3` on PATH may be another one without them) on a script, for the
 * independent references the image tests compare against.
 */

/** Runs `script` with `args`; returns its standard output, or throws with its standard error. */
export async function runPython(script: string, args: string[] = []): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (code !== 0) throw new Error(`python reference failed (exit ${code}): ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

/** The scikit-image sample photos Debian's python3-skimage installs. */
export const SKIMAGE_DATA = "/usr/lib/python3/dist-packages/skimage/data";
