/**
 * The report's summary: the headline row (top-1, ReaL top-1, hierarchy- and human-rectified
 * top-1), headline numbers, what was audited on what adapter, backend and driver, the
 * mistake taxonomy, the robustness curve in one row, flagged bias classes, warnings, the human
 * review's figures (once people judged items) and the stage timings.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * declare const report: AuditReport;
 * const { id, body } = summarySection(report); // "summary"
 * ```
 */
import type { AuditReport } from "../../schema/report.ts";
import { normLabel } from "../attack_names.ts";
import { headlineFigures, headlineValue } from "../headline.ts";
import { badge, facts, fixed, pct, stat, table } from "../markup.ts";
import { backendChoiceText, driverText } from "../ran_on.ts";
import { type HtmlValue, joinHtml, type SafeHtml, safeHtml } from "../safe_html.ts";
import { reviewBlock } from "./review.ts";
import type { Section } from "./section.ts";

const SHA_PREFIX = 12;
/** The summary names at most this many flagged classes; the biases section lists them all. */
const FLAGGED_LISTED = 20;
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|warp|software/i;

function adapterText(report: AuditReport): SafeHtml {
  const { description, vendor, architecture, isFallbackAdapter } = report.adapter;
  const detail = [vendor, architecture].filter(Boolean).join(", ");
  const software = isFallbackAdapter || SOFTWARE_ADAPTER.test(description);
  // Timings on a CPU rasteriser say nothing about GPU speed: say so next to them.
  const note = software && safeHtml` ${badge(isFallbackAdapter ? "fallback adapter" : "software renderer", "warn")}`;
  return safeHtml`${description}${detail && safeHtml` <span class="muted">(${detail})</span>`}${note}`;
}

/** The backend and driver rows, where the report records them (older reports do not). */
function backendFacts(adapter: AuditReport["adapter"]): [string, HtmlValue][] {
  const rows: [string, HtmlValue][] = [];
  const how = backendChoiceText(adapter);
  if (adapter.backend !== undefined) {
    rows.push(["backend", safeHtml`${adapter.backend}${how && safeHtml` <span class="muted">(${how})</span>`}`]);
  }
  const driver = driverText(adapter);
  if (driver !== null) rows.push(["driver", driver]);
  return rows;
}

/** The paper's finding in one row: top-1 and the three figures that rectify it, each with what it counts. */
function headlineRow(report: AuditReport): SafeHtml {
  const figures = headlineFigures(report);
  const cells = figures.map((f) =>
    safeHtml`<strong class="num">${headlineValue(f)}</strong><div class="stat-note">${f.note}</div>`
  );
  return safeHtml`<div class="block"><h3>Top-1, rectified</h3>${
    table(figures.map((f) => ({ title: f.name })), [cells], { id: "headline", keys: ["headline"] })
  }</div>`;
}

function flaggedBias(bias: AuditReport["bias"]): SafeHtml {
  const flagged = bias?.classes.filter((c) => c.flagged) ?? [];
  if (bias === null) return safeHtml`<p class="muted">Bias stage skipped.</p>`;
  if (flagged.length === 0) return safeHtml`<p>No class flagged.</p>`;
  const more = flagged.length - FLAGGED_LISTED;
  return safeHtml`<ul class="flagged">${
    flagged.slice(0, FLAGGED_LISTED).map((c) =>
      safeHtml`<li data-class="${c.label}"><span class="name">${c.name}</span> <span class="muted">(groups: ${
        joinHtml(c.flaggedGroups, ", ")
      })</span></li>`
    )
  }</ul>${more > 0 && safeHtml`<p class="muted">and ${more} more, in <a href="#bias">Biases</a>.</p>`}`;
}

/**
 * The summary section, first on the page.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../../schema/report.ts";
 * import { safeHtml } from "../safe_html.ts";
 * declare const report: AuditReport;
 * const nav = safeHtml`<a href="#${summarySection(report).id}">Summary</a>`;
 * ```
 */
export function summarySection(report: AuditReport): Section {
  const { accuracy: a, mistakes: m, robustness: r, model } = report;
  const epsilons = r.curve.map((p) => safeHtml`<th class="num">${p.epsilon}</th>`);
  const accuracies = r.curve.map((p) => safeHtml`<td class="num">${pct(p.accuracy)}</td>`);
  const median = r.minEpsilon?.median ?? null;
  const timings = Object.entries(report.timings).map(([stage, s]) => [stage, s.toFixed(2)]);
  const body = safeHtml`${headlineRow(report)}
<div class="stats">
${stat("top-1", pct(a.top1))}
${stat("top-5", pct(a.top5))}
${
    stat(
      "hierarchy-rectified top-1",
      pct(a.rectifiedTop1),
      `same superclass counted right (depth ${m.superclassDepth})`,
    )
  }
${stat("ECE", fixed(a.ece), "15 bins")}
${stat("mistakes", String(m.count), `of ${a.count} images`)}
</div>
<div class="cols">
${
    facts([
      ["model", safeHtml`${model.name} <code title="sha256">${model.sha256.slice(0, SHA_PREFIX)}</code>`],
      ["model path", safeHtml`<code>${model.path}</code>`],
      ["classes", String(model.classes.length)],
      ["data", `${report.data.name}, ${report.data.count} images`],
      ["adapter", adapterText(report)],
      ...backendFacts(report.adapter),
      ["hierarchy", report.config.hierarchy],
      ["created", report.createdAt],
    ])
  }
${
    table([{ title: "mistake taxonomy" }, { title: "images", numeric: true }], [
      ["label in top-5", String(m.counts.labelInTop5)],
      [`same superclass (depth ${m.superclassDepth})`, String(m.counts.sameSuperclass)],
      [`low margin (< ${m.lowMarginThreshold})`, String(m.counts.lowMargin)],
      ...(m.counts.otherObject === undefined
        ? []
        : [["another object in the image (ReaL)", String(m.counts.otherObject)]]),
      ["none of these", String(m.counts.unexplained)],
    ])
  }
</div>
<div class="block"><h3>Robustness (${r.attack.toUpperCase()}${
    r.attacked < report.accuracy.count && `, seeded sample of ${r.attacked} images`
  })</h3>
<table class="wide"><thead><tr><th>epsilon (${
    normLabel(report.config.norm)
  })</th>${epsilons}</tr></thead><tbody><tr><th scope="row">accuracy</th>${accuracies}</tr></tbody></table>
<p>Median epsilon that flips (upper bound, over the flipped images): <strong>${
    median === null ? "–" : median.toFixed(4)
  }</strong>${
    r.minEpsilon &&
    safeHtml` <span class="muted">(${r.minEpsilon.flipped} flipped, ${r.minEpsilon.notFlipped} not)</span>`
  }${
    r.minimalNorm &&
    safeHtml`; DeepFool's minimal-norm estimate, median over the flipped: <strong>${
      r.minimalNorm.median === null ? "–" : r.minimalNorm.median.toFixed(4)
    }</strong>`
  }</p></div>
<div class="block"><h3>Flagged bias classes</h3>${flaggedBias(report.bias)}</div>
<div class="block"><h3>Warnings</h3>${
    r.warnings.length === 0
      ? safeHtml`<p class="muted">None.</p>`
      : safeHtml`<ul class="warnings">${r.warnings.map((w) => safeHtml`<li>${w}</li>`)}</ul>`
  }</div>
${report.review && reviewBlock(report.review)}
<div class="block"><h3>Timings</h3>${table([{ title: "stage" }, { title: "seconds", numeric: true }], timings)}</div>`;
  return { id: "summary", title: "Summary", body };
}
