/**
 * A decode worker (a Deno module Web Worker that decode_pool.ts starts): for each message
 * `{ path, recipe }` it answers `{ image }` (the prepared image, its buffer transferred) or
 * `{ error, input }` (the message, and whether it is an InputError), one file at a time.
 */
/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
import { InputError } from "../io/input_error.ts";
import { type ImageRecipe, prepareImageFile } from "./prepare_image.ts";

self.onmessage = async (event: MessageEvent<{ path: string; recipe: ImageRecipe }>) => {
  const { path, recipe } = event.data;
  try {
    const image = await prepareImageFile(path, recipe);
    self.postMessage({ image }, [image.buffer as ArrayBuffer]); // a fresh array, never shared
  } catch (e) {
    self.postMessage({ error: (e as Error).message, input: e instanceof InputError });
  }
};
