/** Errors the GPU runtime raises. Each names what failed so a user can act on it. */

/** No WebGPU adapter could be found: the user must install a driver. */
export class NoAdapterError extends Error {
  constructor() {
    super(
      "no WebGPU adapter found: install a GPU driver with Vulkan support, or Mesa's " +
        "software rasteriser on a CPU-only host (Debian: apt-get install mesa-vulkan-drivers libgl1-mesa-dri)",
    );
    this.name = "NoAdapterError";
  }
}

/** A WGSL compile error, a validation error or an out-of-memory error, naming the kernel(s) and, if known, the binding. */
export class GpuError extends Error {
  constructor(readonly kernel: string, readonly kind: string, message: string, readonly binding?: string) {
    const where = binding ? `, binding${binding.includes(" and ") ? "s" : ""} ${binding}` : "";
    super(`${kind} error in kernel ${kernel}${where}: ${message}`);
    this.name = "GpuError";
  }
}

/** The device was lost (driver reset, out of memory, destroyed): nothing more can run on it. */
export class DeviceLostError extends Error {
  constructor(reason: string) {
    super(`GPU device lost: ${reason}`);
    this.name = "DeviceLostError";
  }
}
