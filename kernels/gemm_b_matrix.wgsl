// B as a plain K x N matrix (or N x K when transB = 1) of the kernel's params: the cursor half of
// the GEMM core's B accessors, shared by the kernels whose B is one. A kernel supplies bColumn,
// the offset of column n of its batch g's matrix (where that matrix starts is the kernel's own).

struct BColumn { offset: u32 }
struct BCursor { offset: u32 }

fn bCursor(g: u32, k: u32) -> BCursor {
  let p = layout.$.params;
  return BCursor(select(k * p.N, k, p.transB == 1u));
}

fn bNext(cursor: BCursor) -> BCursor {
  let p = layout.$.params;
  return BCursor(cursor.offset + select(p.N, 1u, p.transB == 1u));
}

fn bAt(column: BColumn, cursor: BCursor) -> f32 {
  return layout.$.b[column.offset + cursor.offset];
}
