// The window core's normal orientation: the window rows are rows m of A (packed through loadA),
// the columns are columns n of B (read through its column/cursor accessors).

alias SColumn = BColumn;
alias SCursor = BCursor;

fn gemmRows() -> u32 {
  return layout.$.params.M;
}

fn gemmColumns() -> u32 {
  return layout.$.params.N;
}

fn packLoad(g: u32, m: u32, k: u32) -> f32 {
  return loadA(g, m, k);
}

fn sColumn(g: u32, n: u32) -> SColumn {
  return bColumn(g, n);
}

fn sCursor(g: u32, k: u32) -> SCursor {
  return bCursor(g, k);
}

fn sNext(cursor: SCursor) -> SCursor {
  return bNext(cursor);
}

fn sAt(column: SColumn, cursor: SCursor) -> f32 {
  return bAt(column, cursor);
}

fn finishStore(g: u32, m: u32, n: u32, v: f32) {
  storeC(g, m, n, v);
}
