/**
 * Float64 reference conv2d (NCHW, weights [Cout, Cin/groups, R, S]) and its two gradients,
 * written as the plain loops of the definition so they can be trusted by reading.
 */
import { type Conv2dGeometry, conv2dOutputSize } from "../kernels/conv2d.ts";

/**
 * Calls `visit` with the flat indices into y, x and w of every (output value, kernel tap) pair
 * whose tap reads a real input (not padding): y[yIndex] += w[wIndex] * x[xIndex] is the conv.
 */
function forEachTap(
  geom: Conv2dGeometry,
  visit: (yIndex: number, xIndex: number, wIndex: number) => void,
): void {
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  const { batch, inChannels, inHeight: H, inWidth: W, outChannels, kernelHeight: R, kernelWidth: S, groups } = geom;
  const cgIn = inChannels / groups, cgOut = outChannels / groups;
  for (let n = 0; n < batch; n++) {
    for (let co = 0; co < outChannels; co++) {
      const g = Math.floor(co / cgOut);
      for (let oy = 0; oy < outHeight; oy++) {
        for (let ox = 0; ox < outWidth; ox++) {
          const yIndex = ((n * outChannels + co) * outHeight + oy) * outWidth + ox;
          for (let c = 0; c < cgIn; c++) {
            const ci = g * cgIn + c;
            for (let r = 0; r < R; r++) {
              const iy = oy * geom.strideH + r * geom.dilationH - geom.padH;
              if (iy < 0 || iy >= H) continue;
              for (let s = 0; s < S; s++) {
                const ix = ox * geom.strideW + s * geom.dilationW - geom.padW;
                if (ix < 0 || ix >= W) continue;
                visit(yIndex, ((n * inChannels + ci) * H + iy) * W + ix, ((co * cgIn + c) * R + r) * S + s);
              }
            }
          }
        }
      }
    }
  }
}

/** Output size of y for a geometry. */
export function conv2dOutputLength(geom: Conv2dGeometry): number {
  const { outHeight, outWidth } = conv2dOutputSize(geom);
  return geom.batch * geom.outChannels * outHeight * outWidth;
}

/** y = conv2d(x, w) + bias, in float64. */
export function conv2dForwardOracle(
  geom: Conv2dGeometry,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number>,
): Float64Array {
  const y = new Float64Array(conv2dOutputLength(geom));
  forEachTap(geom, (yi, xi, wi) => y[yi] += w[wi] * x[xi]);
  if (bias) {
    const plane = y.length / (geom.batch * geom.outChannels);
    for (let i = 0; i < y.length; i++) y[i] += bias[Math.floor(i / plane) % geom.outChannels];
  }
  return y;
}

/** dx given dy, in float64. */
export function conv2dBackwardInputOracle(
  geom: Conv2dGeometry,
  dy: ArrayLike<number>,
  w: ArrayLike<number>,
): Float64Array {
  const dx = new Float64Array(geom.batch * geom.inChannels * geom.inHeight * geom.inWidth);
  forEachTap(geom, (yi, xi, wi) => dx[xi] += w[wi] * dy[yi]);
  return dx;
}

/** dW given dy and x, in float64. */
export function conv2dBackwardWeightOracle(
  geom: Conv2dGeometry,
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
): Float64Array {
  const { outChannels, inChannels, groups, kernelHeight, kernelWidth } = geom;
  const dw = new Float64Array(outChannels * (inChannels / groups) * kernelHeight * kernelWidth);
  forEachTap(geom, (yi, xi, wi) => dw[wi] += dy[yi] * x[xi]);
  return dw;
}
