// Peak fma throughput of the adapter: 4 independent vec4 fma chains per invocation (16 lanes of
// work, enough to hide fma latency on a CPU's SIMD units), each loop iteration unrolled 8 times so
// the loop's own cost stays small. No memory traffic but one store per invocation.
// fmas per invocation: iterations * 8 * 4 chains * 4 components.

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let s = f32(i) * 1e-9;
  let m = vec4f(0.999 + s);
  let c = vec4f(1e-3);
  var a0 = vec4f(s, s + 1.0, s + 2.0, s + 3.0);
  var a1 = a0 + 4.0;
  var a2 = a0 + 8.0;
  var a3 = a0 + 12.0;
  for (var n = 0u; n < layout.$.params.iterations; n++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
  }
  let sum = a0 + a1 + a2 + a3;
  layout.$.dst[i] = sum.x + sum.y + sum.z + sum.w;
}
