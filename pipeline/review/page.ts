/**
 * A reviewer's page: one card per item the plan gives them, with the image, the model's answer,
 * the label and the explanation where the plan shows them to this reviewer, and buttons that POST
 * the judgment to `/judgments` with the reviewer's token. Self-contained (inline CSS and script,
 * images from the server's `/assets/`); every string from the report is escaped, so a class name
 * is shown as text whatever it holds.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * declare const page: ReviewPage;
 * const html = renderReviewPage(report, page);
 * ```
 */
import type { AuditReport } from "../schema/report.ts";
import { className, joinHtml, raw, type SafeHtml, safeHtml } from "../report/mod.ts";
import { JUDGMENTS } from "../schema/review.ts";
import { saliencyName } from "../schema/saliency_names.ts";
import type { JudgmentRecord } from "./judgments.ts";
import type { Assignment, ReviewItem } from "./plan.ts";
import type { Reviewer } from "./reviewers.ts";

/** What one reviewer's page shows. */
export interface ReviewPage {
  reviewer: Reviewer;
  /** The reviewer's items, in the order of `assignments`. */
  items: readonly ReviewItem[];
  assignments: readonly Assignment[];
  /** The reviewer's latest judgment, by item id. */
  judgments: ReadonlyMap<string, JudgmentRecord>;
}

// The page's own stylesheet and script, as is (`raw`): not HTML text, and written here, not read from a report.
const STYLE = raw(`
body { font: 15px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; color: #222; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); gap: 1rem; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 0.75rem; }
.card.judged { border-color: #2a7; background: #f3fbf6; }
.card h2 { font-size: 1rem; margin: 0 0 0.5rem; }
.images { display: flex; flex-wrap: wrap; gap: 0.5rem; }
figure { margin: 0; }
figure img { width: 8rem; border: 1px solid #ddd; }
figure img[src$=".png"] { image-rendering: pixelated; } /* tiny inputs; photographs (JPEG) scale smoothly */
figure.grid img { width: 100%; height: auto; } /* the whole row, its aspect ratio kept */
.overlaid { position: relative; display: block; } /* the saliency map's overlay over its image */
.overlaid img + img { position: absolute; left: 0; top: 0; }
figcaption { font-size: 0.8rem; color: #555; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 0.1rem 0.5rem; margin: 0.5rem 0; }
dt { color: #555; }
dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
button { margin: 0 0.25rem 0.25rem 0; padding: 0.3rem 0.6rem; cursor: pointer; }
button[aria-pressed="true"] { background: #2a7; color: #fff; border-color: #2a7; }
.status { font-size: 0.85rem; color: #555; margin: 0.25rem 0 0; }
`);

// Reads the item and the judgment from data attributes: no report text ever reaches the script.
const SCRIPT = raw(`
const progress = document.getElementById("progress");
const token = document.body.dataset.token;
const cards = document.querySelectorAll(".card");
const showProgress = () => {
  progress.textContent = document.querySelectorAll(".card.judged").length + " of " + cards.length + " judged";
};
for (const card of cards) {
  const buttons = card.querySelectorAll("button[data-judgment]");
  const status = card.querySelector(".status");
  for (const button of buttons) {
    button.addEventListener("click", async () => {
      status.textContent = "Saving...";
      try {
        const response = await fetch("/judgments", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer " + token },
          body: JSON.stringify({ item: card.dataset.item, judgment: button.dataset.judgment }),
        });
        // An answer that is not JSON (a proxy's error page) is still shown as what it is.
        const body = await response.json().catch(() => ({ error: "the server answered " + response.status }));
        if (!response.ok) throw new Error(body.error);
        card.classList.add("judged");
        for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
        status.textContent = "Judged: " + button.dataset.judgment;
        showProgress();
      } catch (e) {
        status.textContent = "Not saved: " + e.message;
      }
    });
  }
}
showProgress();
`);

function figure(src: string, caption: string, extraClass = ""): SafeHtml {
  const cls = extraClass && safeHtml` class="${extraClass}"`;
  return safeHtml`<figure${cls}><img src="/${src}" alt="${caption}"><figcaption>${caption}</figcaption></figure>`;
}

/**
 * The saliency overlay of the audit's method (Grad-CAM for a ConvNet by default) and, when the bias
 * stage made one, the predicted class's prototype grid beside it.
 */
function explanation(report: AuditReport, item: ReviewItem): SafeHtml {
  const grid = report.bias?.classes.find((c) => c.label === item.predicted)?.grid;
  const name = className(report, item.predicted);
  const method = saliencyName(report.explanations?.method ?? "");
  const caption = `why "${name}" (${method} saliency)`;
  const overlay =
    safeHtml`<span class="overlaid"><img src="/${item.image}" alt=""><img src="/${item.saliency}" alt="${caption}"></span>`;
  return safeHtml`<figure class="explanation">${overlay}<figcaption>${caption}</figcaption></figure>${
    grid && figure(grid, `what the model thinks "${name}" looks like`, "explanation grid")
  }`;
}

function card(
  report: AuditReport,
  item: ReviewItem,
  assignment: Assignment,
  judged: JudgmentRecord | undefined,
): SafeHtml {
  const shown = assignment.explanationShown, labelled = assignment.labelShown;
  const title = item.attack === null
    ? safeHtml`Mistake on image #${item.index}`
    : safeHtml`Adversarial example of image #${item.index} (${item.attack.name.toUpperCase()}, &epsilon; = ${item.attack.epsilon})`;
  // Without the label there is no label to find wrong.
  const buttons = JUDGMENTS.filter((j) => labelled || j !== "label is wrong").map((j) =>
    safeHtml`<button type="button" data-judgment="${j}" aria-pressed="${String(judged?.judgment === j)}">${j}</button>`
  );
  return safeHtml`<section class="card${judged && " judged"}" data-item="${item.id}" data-explained="${
    String(shown)
  }" data-labelled="${String(labelled)}">
<h2>${title}</h2>
<div class="images">${figure(item.image, "the image")}${shown && explanation(report, item)}</div>
<dl><dt>Model's answer</dt><dd class="answer">${className(report, item.predicted)}</dd>${
    labelled && safeHtml`
<dt>Label</dt><dd class="label">${className(report, item.label)}</dd>`
  }</dl>
<div class="buttons">${buttons}</div>
<p class="status" role="status">${judged ? `Judged: ${judged.judgment}` : "Not judged yet"}</p>
</section>`;
}

/**
 * The page of one reviewer, showing explanations and labels where the plan says so and, on each
 * judged item, the reviewer's latest judgment.
 *
 * @example
 * ```ts
 * import type { AuditReport } from "../schema/report.ts";
 * declare const report: AuditReport;
 * declare const page: ReviewPage;
 * const response = new Response(renderReviewPage(report, page), {
 *   headers: { "content-type": "text/html; charset=utf-8" },
 * });
 * ```
 */
export function renderReviewPage(report: AuditReport, page: ReviewPage): string {
  const cards = page.assignments.map((a, i) => card(report, page.items[i], a, page.judgments.get(a.item)));
  return String(safeHtml`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Review: ${report.model.name} on ${report.data.name}</title>
<style>${STYLE}</style>
</head>
<body data-token="${page.reviewer.token}">
<header>
<h1>Review: ${report.model.name} on ${report.data.name}</h1>
<p>Reviewer: <strong class="reviewer">${page.reviewer.name}</strong></p>
<p>For each image, is the model's answer acceptable? Answer "label is wrong" when the image does not show its label.
Some images come with an explanation of the answer, some without; some with their label, some without.</p>
<p><a href="/report">The audit report</a> &middot; <span id="progress"></span></p>
</header>
<main>
${joinHtml(cards, "\n")}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`);
}
