/**
 * The schema of `report.json`, part 1: accuracy, mistakes and robustness. Keys other tools read
 * (DESIGN.md): `accuracy.top1`, `accuracy.top5`, `accuracy.confusion`, `mistakes.items[].index`,
 * `robustness.curve[] {epsilon, accuracy}`. Renaming or removing a key bumps `schemaVersion`;
 * adding one does not. An `index` is the example's position in the data source's order.
 *
 * @example
 * ```ts
 * const report = AuditReportSchema.parse(JSON.parse(await Deno.readTextFile("audit-report/report.json")));
 * console.log(report.accuracy.top1, report.robustness.curve);
 * ```
 */
import { z } from "zod";
import { AssetPathSchema } from "./asset_path.ts";
import { AttackSchema } from "./attack.ts";
import { BiasReportSchema } from "./bias.ts";
import { FaithfulnessReportSchema } from "./faithfulness.ts";
import { ReviewSummarySchema, StudySampleSchema } from "./review.ts";

export const REPORT_SCHEMA_VERSION = 1;

const share = z.number().min(0).max(1);
const count = z.number().int().min(0);
const classIndex = z.number().int().min(0);
const nullableShare = share.nullable();

const CurvePointSchema = z.object({
  epsilon: z.number().min(0),
  accuracy: share,
  /** Share of correctly classified images flipped; null when none was correct. */
  successRate: nullableShare,
  flips: count,
  sameSuperclass: count,
  sameSuperclassShare: nullableShare,
  /** distanceHistogram[d]: flips landing at hierarchy distance d from the label. */
  distanceHistogram: z.array(count),
  /** Mean severity of the flips: LCA height of label and adversarial class; null without flips. Optional: added later. */
  meanSeverity: z.number().min(0).nullable().optional(),
});

const PgdSchema = z.object({
  steps: z.number().int().min(1),
  stepFraction: z.number().positive(),
  randomStart: z.boolean(),
});

// Robustness (AutoAttack-grade attacks): the keys added with them.
/** APGD's settings (absent in reports written before APGD). */
const ApgdConfigSchema = z.object({ steps: z.number().int().min(1), restarts: z.number().int().min(1) }).optional();
/** A trust check that fired, with the images (data indices, at most 100) it is based on. */
const TrustFlagSchema = z.object({
  check: z.enum(["near-zero-gradient", "randomised", "softmax-output", "fgsm-not-monotone", "square-beats-white-box"]),
  count,
  images: z.array(count),
  message: z.string(),
});

/** One image as the model saw it, its answer, and the saliency of that answer as an overlay. */
const ShownImageSchema = z.object({
  /** Top-1 on this image. */
  predicted: classIndex,
  confidence: share,
  image: AssetPathSchema,
  saliency: AssetPathSchema,
});

/** The saliency methods (explain/saliency.ts lists them from here). */
export const SaliencyMethodSchema = z.enum([
  "gradient",
  "gradientInput",
  "smoothGrad",
  "integratedGradients",
  // Grad-CAM, Grad-CAM++ and occlusion: added later.
  "gradcam",
  "gradcam++",
  "occlusion",
]);

// Sanity checks beyond the cascade's rank correlation (pipeline/explain/sanity_verdict.ts):
// optional, so reports written before them still parse.
const SimilaritySchema = z.object({ spearman: z.number(), absSpearman: z.number(), ssim: z.number(), hog: z.number() });
const SanityChecksSchema = z.object({
  /** Data indices of the images checked: a seeded sample of the evaluated images. */
  indices: z.array(count).optional(),
  /** Each method's mean similarity per stage: the cascade (from its first randomised stage), each layer alone. */
  similarity: z.array(z.object({
    method: SaliencyMethodSchema,
    cascading: z.array(z.object({ layer: z.string(), mean: SimilaritySchema })),
    independent: z.array(z.object({ layer: z.string(), mean: SimilaritySchema })),
    /** Against the random-label model's maps; null without one. */
    data: SimilaritySchema.nullable(),
  })).optional(),
  /** The random-label model of the data test (null: not run) and its accuracy on the audited test set. */
  randomLabelModel: z.object({ path: z.string(), name: z.string(), accuracy: nullableShare }).nullable().optional(),
  /** The verdicts: a measure passes when its interval's upper bound is below the threshold. */
  verdict: z.object({
    threshold: z.number(),
    /** Interval coverage and bootstrap resamples. */
    level: z.number().gt(0).lt(1),
    resamples: count,
    verdicts: z.array(z.object({
      method: SaliencyMethodSchema,
      test: z.enum(["cascading", "independent", "data"]),
      measures: z.record(
        z.enum(["spearman", "absSpearman", "ssim", "hog"]),
        z.object({ mean: z.number(), low: z.number(), high: z.number(), passes: z.boolean() }),
      ),
      passes: z.boolean(),
    })),
  }).optional(),
  /** Integrated Gradients' completeness per image checked: sum of attributions against f(x) - f(baseline). */
  completeness: z.array(z.object({
    index: count,
    attributionSum: z.number(),
    scoreDifference: z.number(),
    gap: z.number(),
    relativeGap: z.number().min(0).nullable(),
  })).optional(),
});

export const ExplanationsSchema = z.object({
  /** The saliency method of every overlay in the report. */
  method: SaliencyMethodSchema,
  /** Mistakes shown with explanations, most confident first (at most config.shown). */
  mistakes: z.array(ShownImageSchema.extend({ index: count, label: classIndex })),
  /**
   * Adversarial examples (at most config.shown): a correctly classified image and the attack's
   * image at the smallest swept epsilon that flipped it, each with its answer and saliency.
   */
  adversarial: z.array(z.object({
    index: count,
    label: classIndex,
    attack: AttackSchema,
    epsilon: z.number().positive(),
    clean: ShownImageSchema,
    adversarial: ShownImageSchema,
  })),
  /**
   * The sanity checks (Adebayo et al.). `methods`: cascading randomisation, each stage's mean rank
   * correlation of the absolute maps with the trained model's; the keys after `figure` came later.
   */
  sanity: z.object({
    images: count,
    /** Randomised layers, top first. */
    layers: z.array(z.string()),
    methods: z.array(z.object({
      method: SaliencyMethodSchema,
      stages: z.array(z.object({ layer: z.string().nullable(), spearman: z.number() })),
    })),
    /** Maps per stage for the first images: rows are methods, columns the cascade. */
    figure: AssetPathSchema,
    ...SanityChecksSchema.shape,
  }).nullable(),
});

/** The ways the WebGPU backend can have been chosen (kernels/gpu.ts `BackendChoice`). */
export const BACKEND_CHOICES = ["explicit", "probed", "cached", "hardware", "default"] as const;

/**
 * The adapter the audit ran on. `backend`, `driver` and `backendChoice` came later: optional, so a
 * report written before them still parses (and is rewritten without them, not with invented values).
 */
/**
 * The hierarchy-aware figures (pipeline/audit/severity.ts): the share of mistakes within each depth
 * of the class tree, and mistake severity, the height of the lowest common ancestor (LCA) of label
 * and prediction counted in edges up from the label's leaf (Bertinetto et al. 2020).
 */
export const HierarchyFiguresSchema = z.object({
  /** Where the tree came from: the hierarchy file, or WordNet's data file. */
  source: z.string(),
  /** How the tree was derived where that needed a choice (WordNet's hypernym path rule); null for a file's tree. */
  rule: z.string().nullable(),
  /** Depth 1 .. maxDepth - 1 (root = depth 0). */
  depths: z.array(z.object({
    depth: z.number().int().min(1),
    /** Mistakes whose label and prediction share their ancestor at this depth. */
    mistakesWithin: count,
    share: nullableShare,
    /** The shared ancestors at this depth holding the most of those mistakes. */
    examples: z.array(z.object({ name: z.string(), mistakes: count })),
  })),
  severity: z.object({
    mistakes: count,
    mean: z.number().min(0).nullable(),
    /** histogram[h]: mistakes of severity h. */
    histogram: z.array(count),
    /** Label classes with at least one mistake. */
    perClass: z.array(z.object({ label: classIndex, mistakes: count, mean: z.number().min(0) })),
  }),
  /** The chosen attack's flips at the largest swept epsilon (every flip of the sweep); null without flips. */
  adversarial: z.object({
    attack: AttackSchema,
    epsilon: z.number().min(0),
    flips: count,
    meanSeverity: z.number().min(0),
  }).nullable(),
});

export const AdapterSchema = z.object({
  description: z.string(),
  vendor: z.string(),
  architecture: z.string(),
  isFallbackAdapter: z.boolean(),
  /** The WebGPU backend, as `DENO_WEBGPU_BACKEND` names it ("vulkan", "gl", ...); "default": Deno's own pick. */
  backend: z.string().optional(),
  /** What is known of the adapter's driver (the installed Mesa or NVIDIA version); "" when unknown. */
  driver: z.string().optional(),
  /** How the backend was chosen: the variable, a probe now, the cached probe, a hardware adapter, or not at all. */
  backendChoice: z.enum(BACKEND_CHOICES).optional(),
});

/** The report's `adapter` part. */
export type ReportAdapter = z.infer<typeof AdapterSchema>;

export const AuditReportSchema = z.object({
  schemaVersion: z.literal(REPORT_SCHEMA_VERSION),
  createdAt: z.string(),
  model: z.object({
    name: z.string(),
    path: z.string(),
    /** SHA-256, hex, of weights.safetensors (a model folder) or of the .onnx file. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    classes: z.array(z.string()).min(2),
    inputRange: z.tuple([z.number(), z.number()]),
  }),
  data: z.object({ name: z.string(), count }),
  adapter: AdapterSchema,
  config: z.object({
    batchSize: z.number().int().min(1),
    limit: z.number().int().min(1).nullable(),
    epsilons: z.array(z.number().min(0)),
    attack: AttackSchema,
    pgd: PgdSchema,
    apgd: ApgdConfigSchema,
    /** Square's query budget under --attack autoattack; absent otherwise. */
    squareQueries: count.optional(),
    /** FAB-T's steps per target class (AutoAttack; absent in reports from before FAB-T). */
    fabSteps: count.optional(),
    /** The threat model every epsilon is a radius in; absent in older reports (L-infinity). */
    norm: z.enum(["linf", "l2"]).optional(),
    /** How the flipping epsilons were bisected: along the adversarial direction, or attacking again; absent in older reports. */
    minEpsilonSearch: z.enum(["line", "attack"]).optional(),
    /** The main attack's target (--target): least-likely, random, or a class index; absent when untargeted. */
    target: z.union([z.enum(["least-likely", "random"]), classIndex]).optional(),
    lowMargin: z.number().min(0),
    superclassDepth: z.number().int().min(1),
    /** The hierarchy file, or "flat". */
    hierarchy: z.string(),
    /** Bisection resolution of the epsilon that flips (an upper bound); 0 when skipped. */
    resolution: z.number().min(0),
    seed: z.number().int(),
    /** Size of the seeded sample of images attacked; null: every image. */
    attackSample: count.nullable(),
    /** Saliency method of the explanations, or "none". */
    saliency: z.union([SaliencyMethodSchema, z.literal("none")]),
    /** Grad-CAM's layer (node name), with a CAM method; absent otherwise. Optional: added later. */
    camLayer: z.string().optional(),
    /** Occlusion's patch side and stride in pixels, with occlusion; absent otherwise. Optional: added later. */
    occlusion: z.object({ patch: z.number().int().min(1), stride: z.number().int().min(1) }).optional(),
    /** Mistakes and adversarial examples shown with explanations, at most. */
    shown: count,
    prototypes: count,
    criticisms: count,
    /** The --groups CSV, or null. */
    groups: z.string().nullable(),
    /** The --real-labels file (ImageNet-ReaL format), or null; absent in reports written before it. */
    realLabels: z.string().nullable().optional(),
  }),
  /** Seconds per stage (attack stages summed over batches) and in total. */
  timings: z.record(z.string(), z.number().min(0)),
  accuracy: z.object({
    count,
    top1: share,
    top5: share,
    /** Top-1 with same-superclass mistakes (and human-accepted ones) counted right. */
    rectifiedTop1: share,
    /**
     * Accuracy against the --real-labels file (Beyer et al. 2020): over the `counted` images with a
     * non-empty list of valid labels, the share whose top-1 (top5: any of the top-5) is in the list;
     * `excluded` images have an empty list. Null without the file; absent in reports written before it.
     */
    real: z.object({ top1: nullableShare, top5: nullableShare, counted: count, excluded: count }).nullable().optional(),
    meanConfidence: share,
    /** Expected calibration error over 15 equal-width bins. */
    ece: share,
    calibration: z.array(z.object({
      lo: share,
      hi: share,
      count,
      accuracy: nullableShare,
      confidence: nullableShare,
    })),
    perClass: z.array(z.object({
      label: classIndex,
      name: z.string(),
      count,
      correct: count,
      accuracy: nullableShare,
    })),
    /** confusion[label][prediction] counts. */
    confusion: z.array(z.array(count)),
  }),
  mistakes: z.object({
    count,
    lowMarginThreshold: z.number().min(0),
    superclassDepth: z.number().int().min(1),
    counts: z.object({
      labelInTop5: count,
      sameSuperclass: count,
      lowMargin: count,
      /** Mistakes whose prediction is one of the image's valid labels; present only with --real-labels. */
      otherObject: count.optional(),
      /** Mistakes of none of the kinds (otherObject included when present). */
      unexplained: count,
    }),
    items: z.array(z.object({
      index: count,
      label: classIndex,
      predicted: classIndex,
      top: z.array(classIndex),
      confidence: share,
      margin: share,
      labelInTop5: z.boolean(),
      sameSuperclass: z.boolean(),
      lowMargin: z.boolean(),
      distance: count,
      /** The prediction is one of the image's valid labels: another object in it. Only with --real-labels. */
      otherObject: z.boolean().optional(),
    })),
  }),
  /** Every image: its top-5 (best first) and their probabilities, margin, epsilon that flips (an upper bound). */
  images: z.array(z.object({
    index: count,
    label: classIndex,
    top: z.array(classIndex),
    probs: z.array(share),
    confidence: share,
    margin: share,
    /** Null: misclassified, not flipped within the sweep, or not computed. */
    minEpsilon: z.number().min(0).nullable(),
    /** DeepFool's minimal-norm estimate in config.norm; null: misclassified or not flipped; absent: not run. */
    minimalNorm: z.number().min(0).nullable().optional(),
  })),
  robustness: z.object({
    attack: AttackSchema,
    /** Images attacked: every image, or the seeded sample of config.attackSample. */
    attacked: count,
    /** The chosen attack's accuracy-versus-epsilon curve. */
    curve: z.array(CurvePointSchema),
    fgsm: z.array(CurvePointSchema),
    pgd: z.array(CurvePointSchema).nullable(),
    zeroGradients: count,
    zeroGradientShare: share,
    /**
     * The epsilon that flips each image, an upper bound: the upper end of a bisection with the
     * attack (the minimal epsilon may be lower). `median` is over the flipped images only.
     */
    minEpsilon: z.object({
      attack: AttackSchema,
      resolution: z.number().positive(),
      flipped: count,
      notFlipped: count,
      median: z.number().min(0).nullable(),
      /** Median over all correctly classified attacked images, the unflipped counted as above the sweep; null: above it. */
      medianAll: z.number().min(0).nullable().optional(),
    }).nullable(),
    /**
     * DeepFool's minimal-norm estimates, in config.norm (a flip was seen at each: also upper bounds);
     * `medianAll` counts the images it did not flip within `steps` as above every estimate. Absent or null: not run.
     */
    minimalNorm: z.object({
      method: z.literal("deepfool"),
      norm: z.enum(["linf", "l2"]),
      steps: count,
      candidates: count,
      overshoot: z.number().min(0),
      flipped: count,
      notFlipped: count,
      median: z.number().min(0).nullable(),
      medianAll: z.number().min(0).nullable(),
    }).nullable().optional(),
    /** Every curve swept by name (attacks, and AutoAttack's after each attack); absent in older reports. */
    curves: z.record(z.string(), z.array(CurvePointSchema)).optional(),
    /** AutoAttack's attacks in order (keys of `curves`); null for a single attack. */
    ensemble: z.array(z.string()).nullable().optional(),
    /** FGSM's own accuracy per epsilon, flips not carried forward; null when not kept. */
    fgsmRaw: z.array(CurvePointSchema).nullable().optional(),
    /** The per-image trust checks that fired. */
    flags: z.array(TrustFlagSchema).optional(),
    warnings: z.array(z.string()),
  }),
  /** Null when the explanation stage was skipped (--saliency none). */
  explanations: ExplanationsSchema.nullable(),
  /** Each saliency method's faithfulness metrics; null with --faithfulness-images 0 or --saliency none. Optional: added later. */
  faithfulness: FaithfulnessReportSchema.nullable().optional(),
  /** Null when the bias stage was skipped (--prototypes 0). Each class's `grid` shows its picks. */
  bias: BiasReportSchema.nullable(),
  /** People's judgments from the review page and the figures they rectify; null before any. */
  review: ReviewSummarySchema.nullable(),
  /** The human study's random sample, with pictures; null with --study 0 or --saliency none. Optional: added later. */
  study: StudySampleSchema.nullable().optional(),
  /** Hierarchy-aware figures; null for a hierarchy of one level. Optional: reports written before it have none. */
  hierarchy: HierarchyFiguresSchema.nullable().optional(),
});

export type AuditReport = z.infer<typeof AuditReportSchema>;
