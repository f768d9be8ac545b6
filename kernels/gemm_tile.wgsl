// Tiled GEMM core shared by dense and convolution kernels (implicit GEMM).
//
//   C[g, m, n] = sum_k A(g, m, k) * B(g, k, n)
//
// The including kernel defines loadA, B's column/cursor accessors (bColumn, bCursor, bAt) and
// storeC (how the operands map onto its tensors) and a params struct with fields M, N, K. Each workgroup computes a TILE_M x TILE_N block of C
// with 16x16 invocations, each owning a 4x4 register block. Per step of TILE_K, the workgroup
// stages a TILE_K x TILE_M slice of A and a TILE_K x TILE_N slice of B in workgroup memory
// (k-major, so the inner loop reads 4 consecutive values of each), then every invocation does
// 4x4 multiply-adds per k. Out-of-range rows, columns and k are loaded as 0, so any M, N, K work.
// Workgroup grid: x = column tiles, y = row tiles, z = g.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;
const THREADS: u32 = 256u;

var<workgroup> tileA: array<array<f32, TILE_M>, TILE_K>;
var<workgroup> tileB: array<array<f32, TILE_N>, TILE_K>;

// One value of B: the tiles are staged in any order, so each load sets up its column and k afresh.
fn loadB(g: u32, k: u32, n: u32) -> f32 {
  return bAt(bColumn(g, n), bCursor(g, k));
}

@compute @workgroup_size(16, 16, 1)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) flat: u32,
) {
  let M = layout.$.params.M;
  let N = layout.$.params.N;
  let K = layout.$.params.K;
  let g = wid.z;
  let row0 = wid.y * TILE_M;
  let col0 = wid.x * TILE_N;

  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 += TILE_K) {
    // Stage the tiles: 1024 values of each operand, 4 per invocation. For A, consecutive
    // invocations take consecutive k (A is usually row-major in k); for B, consecutive n.
    for (var i = 0u; i < 4u; i++) {
      let e = flat + i * THREADS;
      let ak = e % TILE_K;
      let am = e / TILE_K;
      var a = 0.0;
      if (row0 + am < M && k0 + ak < K) { a = loadA(g, row0 + am, k0 + ak); }
      tileA[ak][am] = a;
      let bn = e % TILE_N;
      let bk = e / TILE_N;
      var b = 0.0;
      if (col0 + bn < N && k0 + bk < K) { b = loadB(g, k0 + bk, col0 + bn); }
      tileB[bk][bn] = b;
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      var a4: array<f32, 4>;
      var b4: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a4[i] = tileA[k][lid.y * 4u + i];
        b4[i] = tileB[k][lid.x * 4u + i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a4[i], b4[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + lid.y * 4u + i;
    if (m >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + lid.x * 4u + j;
      if (n < N) { storeC(g, m, n, acc[i][j]); }
    }
  }
}
