// The annotator's own recent answers, newest first, each with Correct: what the server keeps
// (the `recent` message, so the list lasts across reloads and devices) joined with this page's
// answers not yet saved. A correction goes as the `correct` message, as an undo does.
import { el, shownText } from "/static/lib.js";

/** An item in a few words: its text's start, or its first fields. */
export function glimpse(data, length = 90) {
  const text = typeof data.text === "string" ? data.text
    : Object.entries(data).slice(0, 3).map(([key, value]) => `${key}: ${value}`).join(" · ");
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/**
 * The list's rows: each entry's item, its answer in words (`said(entry)`), whether it is saved,
 * and Correct (`correct(entry)`), offered once the answer is saved (another answer being
 * corrected is left as it was, as Esc leaves it).
 */
export function recentRows(entries, { said, correct, correcting }) {
  return [...entries].reverse().map((entry) => el("li", { "data-label-id": entry.labelId, "data-item-id": entry.item.id },
    el("span", { class: "glimpse", dir: "auto" }, ...shownText(glimpse(entry.item.data))),
    el("span", { class: "answer" }, "→ ", el("b", {}, said(entry))),
    entry.comment ? el("span", { class: "quiet", dir: "auto" }, " · “", ...shownText(entry.comment), "”") : null,
    el("span", { class: "quiet" }, entry.acked ? "" : " · saving…"),
    el("button", {
      type: "button", class: "secondary", "data-testid": "correct",
      disabled: !entry.acked || correcting === entry,
      "aria-label": `Correct your answer to “${glimpse(entry.item.data, 40)}”`,
      onclick: () => correct(entry),
    }, correcting === entry ? "Correcting…" : "Correct"),
  ));
}
