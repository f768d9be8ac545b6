/** The class with the highest score in each row of a [rows, classes] array (lowest index on ties). */
export function argmaxRows(values: Float32Array, rows: number): Int32Array {
  const width = values.length / rows;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let k = 1; k < width; k++) if (values[r * width + k] > values[r * width + best]) best = k;
    out[r] = best;
  }
  return out;
}
