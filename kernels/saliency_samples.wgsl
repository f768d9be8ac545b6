// The inputs at which a sampled saliency method takes gradients, for samples firstSample ..
// firstSample + samples - 1 of totalSamples, each a copy of the whole batch (count values):
//   mode 0, Integrated Gradients: out[s, i] = base[i] + alpha_s (x[i] - base[i]), with the
//     midpoint rule alpha_s = (s + 0.5) / totalSamples (its error is second order in the step);
//   mode 1, SmoothGrad: out[s, i] = x[i] + sigma * z, z standard normal drawn from
//     (seed, s, elementOffset + i).
// The noise is a counter-based hash of the global sample and element indices, not a stream, so
// the result does not depend on how samples or images are split into chunks.
// One invocation per output value, 256 per workgroup, workgroups over x and y (grid1d).

const WG: u32 = 256u;

fn hash(v: u32) -> u32 {
  // PCG output permutation (Jarzynski & Olano, "Hash Functions for GPU Rendering", 2020).
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in (0, 1]: 24 random bits, shifted off zero so the log below stays finite.
fn unit(h: u32) -> f32 {
  return (f32(h >> 8u) + 1.0) / 16777216.0;
}

fn gaussian(seed: u32, s: u32, i: u32) -> f32 {
  let h1 = hash(seed ^ hash(s ^ hash(i)));
  let h2 = hash(h1 ^ 0x9e3779b9u);
  // Box-Muller.
  return sqrt(-2.0 * log(unit(h1))) * cos(6.283185307 * unit(h2));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (o >= p.samples * p.count) { return; }
  let s = p.firstSample + o / p.count;
  let i = o % p.count;
  let xi = layout.$.x[i];
  if (p.mode == 0u) {
    let alpha = (f32(s) + 0.5) / f32(p.totalSamples);
    let b = layout.$.base[i];
    layout.$.out[o] = b + alpha * (xi - b);
  } else {
    layout.$.out[o] = xi + p.sigma * gaussian(p.seed, s, p.elementOffset + i);
  }
}
