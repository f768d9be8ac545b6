// GEMM core for CPU-emulated adapters that stages one operand through a uniform-buffer window.
//
//   C[g, m, n] = sum_k A(g, m, k) * B(g, k, n)
//
// On llvmpipe every invocation is one lane of an 8-wide SIMD vector; per vector, an fma costs
// about a cycle, a uniform-buffer load about 12 (an unrolled gather) and a storage-buffer load
// about 50 (a scalar loop over the lanes). Loads, not fmas, set the speed. So the operand all
// columns of a window row share is read from a uniform buffer: the host packs it (entry point
// `pack`, through packLoad, into `scratch`) into 64 KiB windows of ROWS rows x up to
// 16384 / ROWS values of k, and records one dispatch of `main` per window with that window bound
// as `stagedA`. Each invocation owns RN columns of the window's ROWS rows, so a value of the
// streamed operand, read once per (k, column), feeds ROWS fmas. The streamed operand is read
// through column/cursor accessors: sColumn sets up a column once (the index decoding, with
// divisions), sCursor places k once per window and sNext steps it, so the k loop divides nothing.
// A window's sums are added into a [ROWS][columns] scratch tile (K longer than a window takes
// several), and `finish` hands the sums to finishStore. No workgroup memory, no barrier.
//
// The orientation (gemm.ts's windowOrientation, prepended by the host) says which operand is
// which: normally the window rows are rows m of A and the columns are columns n of B; swapped,
// the window rows are columns n of B and the columns are rows m of A, which keeps a GEMM with few
// columns n and many rows m parallel and its dispatches few.
// ROWS, RN and WG are specialised per call shape by the host (gemm.ts).

const ROWS: u32 = 16u;
const RN: u32 = 8u;
const WG: u32 = 64u;

@compute @workgroup_size(WG, 1, 1)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
) {
  let M = gemmRows();
  let N = gemmColumns();
  let tile = layout.$.tile;
  let n0 = ((wid.x + wid.y * nwg.x) * WG + lid.x) * RN;
  var cols: array<SColumn, RN>;
  for (var j = 0u; j < RN; j++) {
    cols[j] = sColumn(tile.g, min(n0 + j, N - 1u)); // past N: a real column, never stored
  }
  // acc[j][i] holds rows 4i..4i+3 of column j; a window row of k holds its ROWS values as vec4s.
  var acc: array<array<vec4f, ROWS / 4u>, RN>;
  var cursor = sCursor(tile.g, tile.k0);
  for (var k = 0u; k < tile.kLen; k++) {
    var a: array<vec4f, ROWS / 4u>;
    for (var i = 0u; i < ROWS / 4u; i++) {
      a[i] = layout.$.stagedA[k * (ROWS / 4u) + i];
    }
    for (var j = 0u; j < RN; j++) {
      let b = vec4f(sAt(cols[j], cursor));
      for (var i = 0u; i < ROWS / 4u; i++) {
        acc[j][i] = fma(a[i], b, acc[j][i]);
      }
    }
    cursor = sNext(cursor);
  }
  // Raw sums only: a loop body this small is unrolled, so acc is indexed by constants alone. With
  // storeC inlined here it was not (the compiler's unroll limit) and the Gram kernel ran 3x slower.
  for (var j = 0u; j < RN; j++) {
    let n = n0 + j;
    for (var i = 0u; i < ROWS; i++) {
      if (n < N) {
        let p = (tile.m0 + i) * N + n;
        layout.$.scratch[p] = acc[j][i / 4u][i % 4u] + select(layout.$.scratch[p], 0.0, tile.first == 1u);
      }
    }
  }
}

// Hands a group's sums to finishStore once its last window is done, one invocation per value:
// x and y over n (grid1d), z over rows from tile.m0 (the scratch holds every row of the group, so
// one dispatch finishes them all).
@compute @workgroup_size(64, 1, 1)
fn finish(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let N = gemmColumns();
  let n = gid.x + gid.y * nwg.x * 64u;
  let m = layout.$.tile.m0 + gid.z;
  if (n < N && m < gemmRows()) {
    finishStore(layout.$.tile.g, m, n, layout.$.scratch[m * N + n]);
  }
}

// Packs the window operand, one invocation per value: window w = (g * tiles + t) * chunks + c
// holds rows t*ROWS.. and k from c*kc, as [k][ROWS], tile.stride = ROWS*kc values apart; zero past
// the rows and K. Grid: x over a window's values, y over c, z over (g, t) from tile.g, so the only
// divisions are per workgroup or by the constant ROWS.
@compute @workgroup_size(64, 1, 1)
fn pack(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tile = layout.$.tile;
  let within = gid.x;
  if (within >= tile.stride) { return; }
  let gt = tile.g + wid.z;
  let g = gt / tile.tiles;
  let t = gt - g * tile.tiles;
  let k = wid.y * tile.kc + within / ROWS;
  let m = t * ROWS + within % ROWS;
  var v = 0.0;
  if (m < gemmRows() && k < layout.$.params.K) { v = packLoad(g, m, k); }
  layout.$.scratch[(gt * tile.chunks + wid.y) * tile.stride + within] = v;
}
