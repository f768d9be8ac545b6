/**
 * ONNX models in: decoding, lowering onto the graph's ops, and the sidecar JSON that supplies what
 * ONNX files do not carry (classes, normalisation, input range).
 *
 * @example
 * ```ts
 * import { importOnnx, readSidecar } from "./mod.ts";
 * const sidecar = await readSidecar("net.onnx.json");
 * const imported = await importOnnx(await Deno.readFile("net.onnx"), { source: "net.onnx", folder: ".", input: sidecar.input });
 * ```
 */
export { importOnnx, type ImportOptions, type OnnxImport, OPSET_RANGE } from "./import.ts";
export { readSidecar, type Sidecar, SidecarSchema } from "./sidecar.ts";
