// GEMM core without workgroup memory, for CPU-emulated adapters (llvmpipe, lavapipe, WARP).
//
//   C[g, m, n] = sum_k A(g, m, k) * B(g, k, n)
//
// Same contract as gemm_tile.wgsl (loadA, B's column/cursor accessors, storeC, params M, N, K;
// grid z = g). On a CPU, "workgroup memory" is ordinary memory that the emulator zero-fills and
// synchronises per workgroup in software, which costs more than it saves: caches already keep
// operands close.
// So each invocation reads its operands straight from the buffers and keeps an RM x RN block of C
// in registers. The 64 invocations of a workgroup lie along N: neighbouring invocations (one SIMD
// vector on the CPU) own neighbouring columns, so B, the expensive operand of an implicit-GEMM
// conv (an im2col gather), is read exactly once per (k, column), while the RM rows of A are the
// same for the whole workgroup (a broadcast load). Block of C per workgroup: RM x (64 RN).
// B's columns are set up once (bColumn) and k is stepped (bNext), so the loop does no index
// division. RM and RN are specialised per call shape by the host (gemm.ts).

const RM: u32 = 4u;
const RN: u32 = 4u;
const THREADS: u32 = 64u;

@compute @workgroup_size(THREADS, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let M = layout.$.params.M;
  let N = layout.$.params.N;
  let K = layout.$.params.K;
  let g = wid.z;
  let row0 = wid.y * RM;
  var cols: array<u32, RN>;
  var b: array<BColumn, RN>;
  for (var j = 0u; j < RN; j++) {
    cols[j] = wid.x * THREADS * RN + lid.x + j * THREADS;
    b[j] = bColumn(g, min(cols[j], N - 1u)); // past N: a real column, never stored
  }
  let rows = min(RM, M - row0); // grid y = ceil(M / RM), so at least 1
  var acc: array<array<f32, RN>, RM>;
  var cursor = bCursor(g, 0u);
  for (var k = 0u; k < K; k++) {
    var bk: array<f32, RN>;
    for (var j = 0u; j < RN; j++) {
      bk[j] = bAt(b[j], cursor);
    }
    for (var i = 0u; i < rows; i++) {
      let a = loadA(g, row0 + i, k);
      for (var j = 0u; j < RN; j++) {
        acc[i][j] = fma(a, bk[j], acc[i][j]);
      }
    }
    cursor = bNext(cursor);
  }
  for (var i = 0u; i < rows; i++) {
    for (var j = 0u; j < RN; j++) {
      if (cols[j] < N) { storeC(g, row0 + i, cols[j], acc[i][j]); }
    }
  }
}
