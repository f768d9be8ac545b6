/**
 * The one model loader the commands use: a model folder (manifest, graph, weights) or an `.onnx`
 * file with its sidecar JSON. Either way the result is the same `ModelFiles`, with a SHA-256 that
 * identifies the weights: of `weights.safetensors` for a folder, of the `.onnx` file itself.
 *
 * @example
 * ```ts
 * const { files, sha256, source } = await loadModel("models/resnet.onnx");
 * console.log(source, sha256, files.manifest.classes.length);
 * ```
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { readInputFile } from "../io/files.ts";
import { InputError } from "../io/input_error.ts";
import { parseManifest } from "./manifest.ts";
import type { ModelFiles } from "./model_files.ts";
import { requireFiniteWeights } from "./finite_weights.ts";
import { loadModelFolder } from "./model_folder.ts";
import { importOnnx, readSidecar } from "./onnx/mod.ts";

export interface LoadedModel {
  files: ModelFiles;
  /** Hex SHA-256 of the weights file (folder) or of the ONNX file. */
  sha256: string;
  source: "folder" | "onnx";
  /** The hierarchy file the manifest or sidecar names, if any (io/contained_path.ts `insideFolder` checks it). */
  hierarchy: NamedHierarchy | null;
}

/** A hierarchy path as a manifest or sidecar wrote it, relative to `folder`; not yet checked or read. */
export interface NamedHierarchy {
  folder: string;
  path: string;
  /** The file and field that name it, for messages: `model/manifest.json: hierarchy`. */
  field: string;
}

/**
 * Loads a model folder, or an ONNX file when `path` ends in `.onnx`. The ONNX sidecar defaults to
 * `<path>.json`. A manifest's `hierarchy` is relative to its model folder, a sidecar's to the
 * sidecar's folder; `hierarchy` says which (the file is neither checked nor read here).
 *
 * @example
 * ```ts
 * const model = await loadModel("net.onnx", { sidecar: "labels/net.json" });
 * ```
 */
export async function loadModel(path: string, options: { sidecar?: string } = {}): Promise<LoadedModel> {
  if (!path.toLowerCase().endsWith(".onnx")) {
    if (options.sidecar) throw new InputError(`a sidecar is only read for an .onnx model, not the folder ${path}`);
    const files = await loadModelFolder(path);
    const { hierarchy } = files.manifest;
    return {
      files,
      sha256: sha256(await readInputFile(join(path, "weights.safetensors"))),
      source: "folder",
      hierarchy: hierarchy
        ? { folder: path, path: hierarchy, field: `${join(path, "manifest.json")}: hierarchy` }
        : null,
    };
  }
  const sidecarPath = options.sidecar ?? `${path}.json`;
  const sidecar = await readSidecar(sidecarPath);
  const bytes = await readInputFile(path);
  const imported = await importOnnx(bytes, { source: path, folder: dirname(path), input: sidecar.input });
  if (sidecar.classes.length !== imported.classes) {
    throw new InputError(
      `${sidecarPath}: lists ${sidecar.classes.length} classes but ${path} gives ${imported.classes} logits`,
    );
  }
  requireFiniteWeights(imported.weights, path);
  const digest = sha256(bytes);
  const [channels, height, width] = imported.input;
  const manifest = parseManifest({
    format: "convnet-model",
    version: 1,
    name: sidecar.name ?? basename(path, ".onnx"),
    classes: sidecar.classes,
    input: { channels, height, width },
    normalization: sidecar.normalization,
    inputRange: sidecar.inputRange,
    ...(sidecar.wnids ? { wnids: sidecar.wnids } : {}),
    ...(sidecar.preprocess ? { preprocess: sidecar.preprocess } : {}),
    provenance: {
      format: "onnx",
      file: basename(path),
      sha256: digest,
      opset: imported.opset,
      producer: imported.producer,
      notes: imported.notes,
    },
  }, sidecarPath);
  return {
    files: { manifest, graph: imported.graph, weights: imported.weights },
    sha256: digest,
    source: "onnx",
    hierarchy: sidecar.hierarchy
      ? { folder: dirname(sidecarPath), path: sidecar.hierarchy, field: `${sidecarPath}: hierarchy` }
      : null,
  };
}

/** Hex SHA-256 of some bytes. */
function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
