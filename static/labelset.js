// A multilabel project's answer: a set of labels, toggled, then submitted. The picker the
// annotate and review pages share, its keys, and what its toggles say of a label's probability.
import { el } from "/static/lib.js";

/**
 * The keys of a project's labels, in the project's order, that toggle a set's labels (or choose
 * a classify project's label): 1–9, then letters clear of the pages' own keys (S skip, U undo);
 * a label beyond these has no key, only its button.
 */
export const SET_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "q", "w", "e", "r", "t", "y", "i", "o", "p"];
/** The key that answers "none of these": the empty set. */
export const NONE_KEY = "0";

/** The threshold a multilabel project's label has unless the project sets its own. */
export const DEFAULT_THRESHOLD = 0.5;

/** A share as a percentage with no more decimals than it needs (0.3: "30 %", 0.325: "32.5 %"). */
export const sharePercent = (share) => `${Number((100 * share).toFixed(2))} %`;

/**
 * A label's probability as its toggle shows it, beside its threshold: whole percents, one
 * more decimal near the threshold, and "> 30 %" or "< 30 %" when even that would round onto
 * the threshold: a probability never reads as equal to its threshold while it is on the other
 * side (a label is predicted when its probability is above its threshold). The threshold is
 * said when it is not the default: "32 % · threshold 30 %".
 */
export function probabilityText(p, threshold = DEFAULT_THRESHOLD) {
  const t = Number((100 * threshold).toFixed(6));
  const places = (String(Number(t.toFixed(2))).split(".")[1] ?? "").length;
  let text = null;
  for (const n of [places, places + 1]) {
    const shown = (100 * p).toFixed(n);
    const value = Number(shown);
    if (p === threshold || (p > threshold ? value > t : value < t)) {
      text = `${shown} %`;
      break;
    }
  }
  text ??= `${p > threshold ? ">" : "<"} ${sharePercent(threshold)}`;
  return threshold === DEFAULT_THRESHOLD ? text : `${text} · threshold ${sharePercent(threshold)}`;
}

/** A click leaves no button focused, where a later Space or Enter would find it. */
const keepFocus = (event) => event.preventDefault();

/** The controls whose own key Enter is, when one has focus (reached with Tab). */
const CONTROLS = 'button, a[href], [role="button"], [role="link"]';

/**
 * The picker of a multilabel answer: a toggle button per label (aria-pressed, its key shown),
 * in `group`, and in `actions` a Submit button (Enter) and a "None of these" one (0). Toggling
 * sends nothing: the set goes to `submit(labels)`, in the project's order, by one deliberate
 * act, Enter or a press of Submit; the empty set only by "None of these", so that an Enter
 * pressed twice never answers the next item with nothing. Nor with anything else: in an
 * item's first moments (`firstLook`, a FirstLook of lib.js) neither key nor button sends, so
 * the second press of a double one finds the next item too young to answer. `say(text)` tells
 * why a key did nothing.
 */
export class LabelSet {
  constructor({ group, actions, submit, say, firstLook = null, submitText = "Submit", enterVerb = "submit" }) {
    this.group = group;
    this.verb = enterVerb; // what Enter does to the selected labels, in a sentence
    this.submit = submit;
    this.say = say;
    this.firstLook = firstLook;
    this.labels = [];
    this.pressed = new Set();
    this.active = false; // an answer may be given: an item is on screen and not being saved
    this.submitButton = el("button", {
      type: "button", class: "primary", "data-testid": "submit", "aria-keyshortcuts": "Enter",
      onmousedown: keepFocus, onclick: (event) => { if (!this.early(event)) this.send(); },
    }, `${submitText} `, el("kbd", {}, "Enter"));
    this.noneButton = el("button", {
      type: "button", class: "secondary", "data-testid": "none", "aria-keyshortcuts": NONE_KEY,
      onmousedown: keepFocus, onclick: (event) => { if (!this.early(event)) this.none(); },
    }, el("kbd", {}, NONE_KEY), " None of these");
    actions.replaceChildren(this.submitButton, this.noneButton);
  }

  /**
   * Toggles for `labels`, those in `pressed` already on. Each toggle has its places, the same
   * on every card: the tick box and under it the key on the left; the name, and under it
   * `hints[label]` (text or {text, title}: the model's probability, say); a badge, `mark.text`,
   * on the labels in `mark.labels` (the model's suggestion), with `mark.title` as its tooltip,
   * on the card's top edge. The badge is text inside the button, so that a screen reader says
   * it with the label's name.
   */
  show(labels, { pressed = [], hints = {}, hintTitle = "", mark = null } = {}) {
    this.labels = labels;
    this.pressed = new Set(pressed.filter((label) => labels.includes(label)));
    const marked = new Set(mark?.labels ?? []);
    this.group.classList.add("set-picker");
    this.group.replaceChildren(...labels.map((label, i) => {
      const hint = hints[label];
      const hinted = hint !== undefined && hint !== null && hint !== "";
      const badge = marked.has(label);
      return el("button", {
        type: "button",
        class: badge ? "label toggle marked" : "label toggle",
        "data-label": label,
        "data-marked": badge ? "true" : null,
        "aria-pressed": this.pressed.has(label) ? "true" : "false",
        "aria-keyshortcuts": SET_KEYS[i],
        onmousedown: keepFocus,
        onclick: () => this.toggle(label),
      }, el("span", { class: "side" },
        el("span", { class: "check", "aria-hidden": "true" }),
        ...(SET_KEYS[i] ? [el("kbd", {}, SET_KEYS[i].toUpperCase())] : [])),
      " ",
      el("span", { class: "name", title: label }, label),
      ...(hinted ? [" ", el("small", { class: "hint-value", title: hint.title ?? hintTitle }, hint.text ?? hint)] : []),
      ...(badge ? [" ", el("span", { class: "badge", title: mark.title ?? "" }, mark.text)] : []));
    }));
    this.active = true;
    this.refresh();
  }

  /** The set as it stands, in the project's order. */
  get chosen() {
    return this.labels.filter((label) => this.pressed.has(label));
  }

  toggle(label) {
    if (!this.active || !this.labels.includes(label)) return;
    if (this.pressed.has(label)) this.pressed.delete(label); else this.pressed.add(label);
    this.refresh();
  }

  refresh() {
    for (const button of this.group.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", this.pressed.has(button.dataset.label) ? "true" : "false");
      button.disabled = !this.active;
    }
    this.submitButton.disabled = !this.active || this.pressed.size === 0;
    this.submitButton.title = this.pressed.size ? "" : "Select a label first, or choose None of these";
    this.noneButton.disabled = !this.active;
  }

  send() {
    if (!this.active) return;
    if (!this.pressed.size) {
      this.say(`Nothing is selected: select labels, or press ${NONE_KEY} for none of these.`);
      return;
    }
    this.submit(this.chosen);
  }

  none() {
    if (this.active) this.submit([]);
  }

  /** No more answers to this item (it is being saved, or gone); the toggles stay as they are. */
  freeze() {
    if (!this.active) return; // never shown (a classify project), or frozen already
    this.active = false;
    this.refresh();
  }

  /** Whether `event` came in the first moments of the item on screen: too soon to answer it. */
  early(event) {
    return this.firstLook?.early(event) ?? false;
  }

  /** Whether `node` is in a control of the page's own, not the picker's (Skip, a link). */
  foreign(node) {
    const control = node.closest?.(CONTROLS);
    return Boolean(control) && !this.group.contains(control)
      && control !== this.submitButton && control !== this.noneButton;
  }

  /**
   * A key for the set, from the page's keydown: true if it was one (and was handled). Enter on
   * another control that has focus (Skip, a link: reached with Tab) is that control's: false.
   */
  key(event) {
    if (!this.active) return false;
    const key = event.key.toLowerCase();
    if (key === "enter" && this.foreign(event.target)) return false;
    const n = SET_KEYS.indexOf(key);
    let act = null;
    if (key === "enter") act = () => this.send();
    else if (key === NONE_KEY) act = () => this.none();
    else if (n >= 0 && n < this.labels.length) act = () => this.toggle(this.labels[n]);
    if (!act) return false;
    event.preventDefault();
    if (event.repeat) return true; // a key held down answers, or toggles, once
    if ((key === "enter" || key === NONE_KEY) && this.early(event)) return true; // a double press
    act();
    return true;
  }

  /**
   * From a capture listener, for a key on a focused button of the picker (reached with Tab): a
   * toggle takes Space as any toggle does; Enter is the page's submit key, never a button's;
   * Space on Submit or None does nothing but say which key does.
   */
  guard(event, type) {
    const button = event.target.closest?.("button");
    if (!button || !(this.group.contains(button) || button === this.submitButton || button === this.noneButton)) return;
    const space = event.key === " " || event.key === "Spacebar";
    if (event.key !== "Enter" && !space) return;
    if (space && this.group.contains(button)) return;
    if (event.key === "Enter") { event.preventDefault(); return; } // the page's keydown submits
    event.preventDefault();
    if (type === "keydown" && !event.repeat) {
      this.say(`Press Enter to ${this.verb} the selected labels, or ${NONE_KEY} for none of these: Space never does.`);
    }
  }
}
