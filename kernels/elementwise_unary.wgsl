// Unary elementwise functions over flat float32 arrays, forward and backward, one pipeline per
// function and direction (FN and BACKWARD are set by the host, see elementwise_unary.ts):
//   forward:   out = f(x)
//   backward:  out = dy * f'(x)            (x is the forward input)
// FN: 0 tanh, 1 erf, 2 exp, 3 log, 4 sqrt, 5 reciprocal, 6 neg, 7 abs, 8 hard_swish, 9 gelu (erf),
//     10 gelu_tanh, 11 silu, 12 hard_sigmoid (alpha, beta), 13 pow (exponent alpha).
//
// Work split as elementwise.wgsl: one invocation per element, 256 per workgroup, the workgroups
// spread over x and y; the element index is gid.x + gid.y * nwg.x * 256.

const WG: u32 = 256u;
const FN: u32 = 0u;
const BACKWARD: u32 = 0u;

const TWO_OVER_SQRT_PI: f32 = 1.1283791670955126;
const SQRT_HALF: f32 = 0.7071067811865476;
const INV_SQRT_TWO_PI: f32 = 0.3989422804014327;
const SQRT_TWO_OVER_PI: f32 = 0.7978845608028654;
const GELU_CUBIC: f32 = 0.044715;

// erfc(z) for z >= 0 with a fractional error below 1.2e-7 over the whole range (the Chebyshev fit
// of Numerical Recipes, 2nd ed., section 6.2), so 1 - erf stays accurate in the tail where gelu
// multiplies it by a large |x|.
fn erfcNonNegative(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + poly);
}

// erf with a relative error near 1e-7: a Taylor series below 0.5 (where 1 - erfc would cancel),
// 1 - erfc above.
fn erf32(x: f32) -> f32 {
  let z = abs(x);
  if (z < 0.5) {
    let s = x * x;
    // x * sum_n (-1)^n s^n / (n! (2n + 1)), n = 0..6; the next term is below 4e-10 * |x|.
    let series = 1.0 + s * (-1.0 / 3.0 + s * (1.0 / 10.0 + s * (-1.0 / 42.0 + s * (1.0 / 216.0 +
      s * (-1.0 / 1320.0 + s * (1.0 / 9360.0))))));
    return TWO_OVER_SQRT_PI * x * series;
  }
  return sign(x) * (1.0 - erfcNonNegative(z));
}

// The standard normal CDF, from erfc on whichever side keeps it accurate.
fn normalCdf(x: f32) -> f32 {
  let tail = 0.5 * erfcNonNegative(abs(x) * SQRT_HALF);
  return select(1.0 - tail, tail, x < 0.0);
}

// tanh that stays finite and keeps its relative accuracy near 0: tanh(15) rounds to 1 in float32,
// so clamping changes nothing; below 0.1, where the builtin (a ratio of exponentials on llvmpipe)
// loses digits to cancellation, x - x^3/3 + 2x^5/15 - 17x^7/315 (the next term is 2e-10 x).
fn tanh32(x: f32) -> f32 {
  if (abs(x) < 0.1) {
    let s = x * x;
    return x * (1.0 + s * (-1.0 / 3.0 + s * (2.0 / 15.0 + s * (-17.0 / 315.0))));
  }
  return tanh(clamp(x, -15.0, 15.0));
}

fn sigmoid32(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// x^e for a real exponent; a negative base is defined for an integer exponent only (NaN otherwise,
// as ONNX Pow and numpy give).
fn power(x: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  if (e == 1.0) { return x; }
  if (e == 2.0) { return x * x; }
  let magnitude = pow(abs(x), e);
  if (x >= 0.0) { return magnitude; }
  if (floor(e) != e) { return bitcast<f32>(0x7fc00000u); }
  return select(magnitude, -magnitude, floor(e * 0.5) * 2.0 != e);
}

fn forward(x: f32, alpha: f32, beta: f32) -> f32 {
  switch FN {
    case 0u: { return tanh32(x); }
    case 1u: { return erf32(x); }
    case 2u: { return exp(x); }
    case 3u: { return log(x); }
    case 4u: { return sqrt(x); }
    case 5u: { return 1.0 / x; }
    case 6u: { return -x; }
    case 7u: { return abs(x); }
    case 8u: { return x * clamp(x / 6.0 + 0.5, 0.0, 1.0); }
    case 9u: { return x * normalCdf(x); }
    case 10u: {
      return 0.5 * x * (1.0 + tanh32(SQRT_TWO_OVER_PI * (x + GELU_CUBIC * x * x * x)));
    }
    case 11u: { return x * sigmoid32(x); }
    case 12u: { return clamp(alpha * x + beta, 0.0, 1.0); }
    default: { return power(x, alpha); }
  }
}

// f'(x); at a kink the one-sided value PyTorch's autograd takes.
fn derivative(x: f32, alpha: f32, beta: f32) -> f32 {
  switch FN {
    case 0u: {
      let y = tanh32(x);
      return 1.0 - y * y;
    }
    case 1u: { return TWO_OVER_SQRT_PI * exp(-x * x); }
    case 2u: { return exp(x); }
    case 3u: { return 1.0 / x; }
    case 4u: { return 0.5 / sqrt(x); }
    case 5u: { return -1.0 / (x * x); }
    case 6u: { return -1.0; }
    case 7u: { return sign(x); }
    case 8u: {
      if (x < -3.0) { return 0.0; }
      if (x > 3.0) { return 1.0; }
      return x / 3.0 + 0.5;
    }
    case 9u: { return normalCdf(x) + x * INV_SQRT_TWO_PI * exp(-0.5 * x * x); }
    case 10u: {
      let t = tanh32(SQRT_TWO_OVER_PI * (x + GELU_CUBIC * x * x * x));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * SQRT_TWO_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
    }
    case 11u: {
      let s = sigmoid32(x);
      return s * (1.0 + x * (1.0 - s));
    }
    case 12u: {
      let v = alpha * x + beta;
      return select(0.0, alpha, v > 0.0 && v < 1.0);
    }
    default: {
      if (alpha == 0.0) { return 0.0; }
      return alpha * power(x, alpha - 1.0);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let p = layout.$.params;
  if (i >= p.count) { return; }
  let x = layout.$.x[i];
  if (BACKWARD == 1u) {
    layout.$.out[i] = layout.$.dy[i] * derivative(x, p.alpha, p.beta);
  } else {
    layout.$.out[i] = forward(x, p.alpha, p.beta);
  }
}
