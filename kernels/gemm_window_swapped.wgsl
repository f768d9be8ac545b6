// The window core's swapped orientation, C transposed = B transposed x A transposed: the window
// rows are columns n of B (packed through B's accessors, set up afresh per value: packing runs
// once per value), the columns are rows m of A, read through the kernel's A column/cursor
// accessors (AColumn, ACursor, aColumn, aCursor, aAt, aNext, the same contract as B's).

alias SColumn = AColumn;
alias SCursor = ACursor;

fn gemmRows() -> u32 {
  return layout.$.params.N;
}

fn gemmColumns() -> u32 {
  return layout.$.params.M;
}

fn packLoad(g: u32, n: u32, k: u32) -> f32 {
  return bAt(bColumn(g, n), bCursor(g, k));
}

fn sColumn(g: u32, m: u32) -> SColumn {
  return aColumn(g, m);
}

fn sCursor(g: u32, k: u32) -> SCursor {
  return aCursor(g, k);
}

fn sNext(cursor: SCursor) -> SCursor {
  return aNext(cursor);
}

fn sAt(column: SColumn, cursor: SCursor) -> f32 {
  return aAt(column, cursor);
}

fn finishStore(g: u32, n: u32, m: u32, v: f32) {
  storeC(g, m, n, v);
}
