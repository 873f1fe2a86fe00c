// Skipping with a reason: S (or Skip) opens a row of reasons; a reason's key, or a click, skips
// with it; Enter skips without one (so S, Enter is as quick as a skip ever was); Esc goes back
// to the item. The reasons are counted on the dashboard, and listed with GET .../skips, so a
// supervisor learns which items the guidelines leave unclear.
import { $, el } from "/static/lib.js";

export const SKIP_REASONS = ["Not sure", "Cannot read or understand it", "No label fits"];

export class SkipChooser {
  /** `skip(reason)` gives the item back with `reason` ("" for none). */
  constructor({ row, skip }) {
    this.row = row;
    this.skip = skip;
    this.other = el("input", { type: "text", maxlength: 500, "aria-label": "Another reason", placeholder: "Another reason…", "data-testid": "skip-other" });
    const form = el("form", { class: "skip-other", onsubmit: (event) => { event.preventDefault(); this.choose(this.other.value.trim()); } }, this.other);
    this.other.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.preventDefault(); this.close(); }
    });
    row.replaceChildren(
      el("span", { class: "skip-title", id: "skip-title" }, "Skip because:"),
      ...SKIP_REASONS.map((reason, i) => el("button", {
        type: "button", class: "secondary", "data-reason": reason, "aria-keyshortcuts": String(i + 1),
        onmousedown: (event) => event.preventDefault(), onclick: () => this.choose(reason),
      }, el("kbd", {}, String(i + 1)), " ", reason)),
      form,
      el("button", { type: "button", class: "secondary", "data-testid": "skip-now", "aria-keyshortcuts": "Enter",
        onmousedown: (event) => event.preventDefault(), onclick: () => this.choose("") }, "No reason ", el("kbd", {}, "Enter")),
      el("button", { type: "button", class: "secondary", "aria-keyshortcuts": "Escape",
        onmousedown: (event) => event.preventDefault(), onclick: () => this.close() }, "Back ", el("kbd", {}, "Esc")),
    );
    row.setAttribute("role", "group");
    row.setAttribute("aria-labelledby", "skip-title");
  }

  get isOpen() { return !this.row.hidden; }

  // The row takes the focus, on "No reason" (so S, Enter skips as quickly as ever): a screen
  // reader says where it is, and Shift+Tab reaches the field for another reason and each
  // reason.
  open() {
    this.other.value = "";
    this.row.hidden = false;
    this.row.scrollIntoView?.({ block: "nearest" });
    this.row.querySelector('[data-testid="skip-now"]').focus({ preventScroll: true });
  }

  close() {
    this.row.hidden = true;
    $("content").focus();
  }

  choose(reason) {
    this.row.hidden = true;
    this.skip(reason);
  }

  /**
   * A key while the row is open: a reason's number, Enter or S (no reason), Esc. Tab moves as
   * ever, and Enter or Space on one of the row's buttons is that button's; no other key answers
   * the item meanwhile. True while the row is open.
   */
  key(event) {
    if (!this.isOpen) return false;
    const onButton = event.target.closest?.("button") && this.row.contains(event.target);
    if (event.key === "Tab" || ((event.key === "Enter" || event.key === " ") && onButton)) return true;
    event.preventDefault();
    if (event.repeat) return true;
    const n = Number(event.key);
    if (Number.isInteger(n) && n >= 1 && n <= SKIP_REASONS.length) this.choose(SKIP_REASONS[n - 1]);
    else if (event.key === "Enter" || event.key.toLowerCase() === "s") this.choose("");
    else if (event.key === "Escape") this.close();
    return true;
  }
}
