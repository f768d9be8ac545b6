// Memory bandwidth of the adapter as kernels see it: each invocation moves VALUES vec4s, a
// stride of the whole grid apart so neighbouring invocations touch neighbouring addresses.
// `readAll` sums them (one store per invocation); `copyAll` copies them. Bytes per invocation:
// 16 * VALUES for read, 32 * VALUES for copy.

const VALUES: u32 = 16u;

fn invocation(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * 64u;
}

@compute @workgroup_size(64, 1, 1)
fn readAll(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(gid, nwg);
  let threads = layout.$.params.threads;
  var sum = vec4f(0.0);
  for (var v = 0u; v < VALUES; v++) {
    sum += layout.$.src[i + v * threads];
  }
  layout.$.dst[i] = sum;
}

@compute @workgroup_size(64, 1, 1)
fn copyAll(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = invocation(gid, nwg);
  let threads = layout.$.params.threads;
  for (var v = 0u; v < VALUES; v++) {
    layout.$.dst[i + v * threads] = layout.$.src[i + v * threads];
  }
}
