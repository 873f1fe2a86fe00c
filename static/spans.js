// A span project's answer: the labelled stretches of a text (named entities), shown in the
// text, made and changed by mouse, touch or keys, then submitted as a whole. The editor the
// annotate and review pages share.
//
// Offsets on the wire are Unicode code points (Python string indices), end exclusive; a
// JavaScript string counts UTF-16 units, which differ past the first plane (emoji, some CJK).
// The editor works in code points throughout (spantext.js) and turns them into UTF-16 only to
// cut the text; spanview.js draws it.
// A span covers whole tokens (the server's word tokens, sent with each item): a selection snaps
// to them, and a span given off their boundaries grows to the tokens it overlaps, as the model
// learns it.
//
// The arrow keys move in the paragraph's reading direction as it shows: in a right-to-left text
// (dir="auto" resolves to rtl) Left goes to the next token and Right to the previous one, so
// that the cursor moves the way the arrow points; within a line that mixes directions, the
// order is the text's (logical) one.
import { el } from "/static/lib.js";
import { HUES, SpanView, expandable, keepFocus } from "/static/spanview.js";
import { BRIEF_SPANS, codeUnits, normalSpans, spansText, tokenize } from "/static/spantext.js";

/** The keys that label a selection, in the project's label order (a label past 9 has none). */
export const SPAN_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];

/** The controls whose own key Enter is, when one has focus (reached with Tab). */
const CONTROLS = 'button, a[href], [role="button"], [role="link"]';

/**
 * The editor of one text's spans. `content` takes the text (wrapped, scrolling when long),
 * with the list of its spans in words under it (spanview.js draws it; a long list names the
 * first few and opens to all), `group` a button per label, `actions` Submit, Remove span and
 * Clear selection. Nothing is sent until one deliberate act, Enter or Submit, which gives
 * `submit(spans)` the whole set, possibly empty (the button then says "Submit: no spans"; the
 * list says what `doing` it means).
 * In an item's first moments (`firstLook`, a FirstLook of lib.js) no key or press changes or
 * sends anything. `say(text)` tells why a key did nothing.
 */
export class SpanEditor {
  constructor({
    group, actions, submit, say, firstLook = null, submitText = "Submit", enterVerb = "submit", doing = "submitting",
  }) {
    this.group = group;
    this.submit = submit;
    this.say = say;
    this.firstLook = firstLook;
    this.submitText = submitText;
    this.verb = enterVerb;
    this.doing = doing;
    this.labels = [];
    this.text = "";
    this.units = [0];
    this.tokens = [];
    this.spans = []; // {start, end, label, score?, origin?}, in text order, never overlapping
    this.anchor = null; // the selection: tokens anchor..focus (token indices), or none
    this.focus = null;
    this.last = 0; // where the cursor comes back after the selection is cleared
    this.extended = false; // the selection was made with Shift: one token of it is not a cursor
    this.tapped = false; // a tap started a selection the next tap extends: "word", or "span" (a span selected)
    this.drag = null; // a mouse drag: {from, moved, drill}
    this.pointer = null; // the kind of the last press: "mouse", "pen" or "touch"
    this.active = false;
    this.box = null;
    this.view = new SpanView(this);
    this.submitButton = el("button", {
      type: "button", class: "primary", "data-testid": "submit", "aria-keyshortcuts": "Enter",
      onmousedown: keepFocus, onclick: (event) => { if (!this.early(event)) this.send(); },
    });
    this.removeButton = el("button", {
      type: "button", class: "secondary", "data-testid": "remove-span", "aria-keyshortcuts": "Backspace Delete",
      onmousedown: keepFocus, onclick: (event) => { if (!this.early(event)) this.remove(); },
    }, "Remove span ", el("kbd", {}, "⌫"));
    this.clearButton = el("button", {
      type: "button", class: "secondary", "data-testid": "clear-selection", "aria-keyshortcuts": "Escape",
      onmousedown: keepFocus, onclick: () => this.unselect(),
    }, "Clear selection");
    this.list = el("div", { class: "span-list", "data-testid": "span-list", "aria-live": "polite" });
    this.where = el("p", { class: "visually-hidden", "aria-live": "polite", "data-testid": "span-cursor" });
    actions.replaceChildren(this.submitButton, this.removeButton, this.clearButton);
    window.addEventListener("pointerup", () => this.dragEnd());
  }

  /**
   * Show `text` in `content`, with `tokens` (code-point [start, end] pairs; the editor's own
   * tokenizer's when null) and `spans` already in the answer (the model's suggestion, an answer
   * being corrected): each `{start, end, label}`, maybe with a `score`; `origin` names where
   * they came from ("suggested": the model's, shown dashed with its score).
   */
  show(content, { text, labels, tokens = null, spans = [], origin = null }) {
    this.text = text;
    this.units = codeUnits(text);
    this.labels = labels;
    this.tokens = (tokens ?? tokenize(text)).map(([start, end]) => [start, end]);
    this.spans = [];
    for (const span of normalSpans(spans)) {
      const given = spans.find((s) => s.start === span.start && s.end === span.end && s.label === span.label);
      this.put({ ...span, score: given?.score, origin }, { replace: false });
    }
    this.anchor = this.focus = null;
    this.last = 0;
    this.extended = false;
    this.tapped = false;
    this.where.textContent = ""; // the last item's words are not this one's
    this.box = el("div", {
      class: "span-text", dir: "auto", role: "group", "data-testid": "span-text",
      "aria-label": "the text: select words and give them a label",
      onpointerdown: (event) => this.pointerDown(event),
      onpointermove: (event) => this.pointerMove(event),
      onclick: (event) => this.clicked(event),
    });
    content.replaceChildren(this.box, this.list, this.where);
    this.group.classList.add("span-labels");
    this.group.replaceChildren(...labels.map((label, i) => el("button", {
      type: "button", class: "label span-label", "data-label": label, "data-hue": i % HUES,
      "aria-keyshortcuts": SPAN_KEYS[i] ?? null,
      onmousedown: keepFocus,
      onclick: (event) => { if (!this.early(event)) this.label(label); },
    }, el("span", { class: "swatch", "aria-hidden": "true" }), ...(SPAN_KEYS[i] ? [el("kbd", {}, SPAN_KEYS[i])] : []),
    el("span", { class: "name" }, ` ${label}`))));
    this.active = true;
    this.render();
  }

  /** The spans as they stand, as the answer sends them. */
  get chosen() {
    return normalSpans(this.spans);
  }

  /** No more answers to this item (it is being saved, or gone); the spans stay as they are. */
  freeze() {
    if (!this.active) return;
    this.active = false;
    this.drag = null;
    this.render();
  }

  /** Whether `event` came in the first moments of the item on screen: too soon to answer it. */
  early(event) {
    return this.firstLook?.early(event) ?? false;
  }

  // -- the selection -----------------------------------------------------------------------

  /** The selected tokens, [first, last] (inclusive), or null. */
  get range() {
    if (this.focus === null) return null;
    return [Math.min(this.anchor, this.focus), Math.max(this.anchor, this.focus)];
  }

  /** The code-point stretch of tokens first..last. */
  stretch([first, last]) {
    return [this.tokens[first][0], this.tokens[last][1]];
  }

  /** The span token `t` is in, or undefined. */
  spanAt(t) {
    const [start, end] = this.tokens[t];
    return this.spans.find((s) => s.start < end && start < s.end);
  }

  /** The tokens span `s` covers, [first, last]. */
  tokensOf(s) {
    const first = this.tokens.findIndex(([, end]) => end > s.start);
    let last = first;
    while (last + 1 < this.tokens.length && this.tokens[last + 1][0] < s.end) last += 1;
    return [first, last];
  }

  select(anchor, focus = anchor, extended = false) {
    this.extended = extended;
    this.anchor = anchor;
    this.focus = focus;
    this.last = focus;
    this.paint();
    this.box.querySelector(`.tok[data-t="${focus}"]`)?.scrollIntoView({ block: "nearest", inline: "nearest" });
    // What a screen reader says of the selection: its words, and their span if they are one.
    const [start, end] = this.stretch(this.range);
    const span = this.spans.find((s) => s.start === start && s.end === end);
    const words = this.cut({ start, end });
    this.announce(span ? `${span.label}: “${words}”` : this.spanAt(focus) && !extended
      ? `“${words}”, in ${this.spanAt(focus).label}: “${this.cut(this.spanAt(focus))}”` : `“${words}”`);
  }

  /** Whether the selection is the whole of span `s`, no more and no less. */
  isSelected(s) {
    const range = this.range;
    if (!range) return false;
    const [start, end] = this.stretch(range);
    return start === s.start && end === s.end;
  }

  /** Select the whole of span `s` (its label can then be changed, or it removed or resized). */
  selectSpan(s) {
    const [first, last] = this.tokensOf(s);
    this.select(first, last);
  }

  unselect() {
    if (this.focus === null) return false;
    this.anchor = this.focus = null;
    this.tapped = false;
    this.paint();
    return true;
  }

  /**
   * Move the cursor by `step` tokens; with `extend`, the selection's far end. With nothing
   * selected, an arrow's first press shows the cursor where it last was (at first, on the
   * first token); Home and End (a step of the whole text) go to the first or last token.
   */
  move(step, extend) {
    const count = this.tokens.length;
    if (!count) return;
    const clamp = (t) => Math.max(0, Math.min(count - 1, t));
    this.tapped = false;
    if (this.focus === null) {
      this.select(clamp(Math.abs(step) > 1 ? this.last + step : this.last));
      return;
    }
    const to = clamp(this.focus + step);
    if (extend) this.select(this.anchor, to, true); else this.select(to);
  }

  // -- changing the spans --------------------------------------------------------------------

  /**
   * Put `span` in the answer, grown to whole tokens. With `replace`, the spans it overlaps go;
   * without, it is left out when it overlaps one already there.
   */
  put(span, { replace = true } = {}) {
    const covered = this.tokens.filter(([start, end]) => start < span.end && span.start < end);
    if (!covered.length || !this.labels.includes(span.label)) return null;
    const grown = { ...span, start: Math.min(span.start, covered[0][0]), end: Math.max(span.end, covered.at(-1)[1]) };
    const overlaps = (s) => s.start < grown.end && grown.start < s.end;
    if (!replace && this.spans.some(overlaps)) return null;
    const gone = this.spans.filter(overlaps);
    this.spans = this.spans.filter((s) => !overlaps(s));
    this.spans.push(grown);
    this.spans.sort((a, b) => a.start - b.start);
    this.changed = [Math.min(grown.start, ...gone.map((s) => s.start)), Math.max(grown.end, ...gone.map((s) => s.end))];
    return grown;
  }

  /**
   * Give the selection `label`. The cursor on one token of a span (not a selection of that one
   * token made with Shift) relabels the span; any other selection becomes a span of its own,
   * and the spans it overlaps go.
   */
  label(label) {
    if (!this.active || !this.labels.includes(label)) return;
    const range = this.range;
    if (!range) {
      this.say("Select some words first: drag over them, or move with the arrow keys (Shift extends).");
      return;
    }
    const inside = range[0] === range[1] && !this.extended ? this.spanAt(range[0]) : null;
    const [start, end] = inside ? [inside.start, inside.end] : this.stretch(range);
    const span = this.put({ start, end, label });
    this.tapped = false;
    this.redraw(...this.changed);
    this.selectSpan(span);
    this.announce(`${label}: “${this.cut(span)}”`);
  }

  /**
   * Take out the spans in the selection (the one under the cursor), or `span` (its remove
   * button): the cursor then shows on its first word, where the keys go on from.
   */
  remove(span = null) {
    if (!this.active) return;
    const range = this.range;
    const [start, end] = span ? [span.start, span.end] : range ? this.stretch(range) : [0, 0];
    const gone = this.spans.filter((s) => s.start < end && start < s.end);
    if (!gone.length) {
      this.say("There is no span here to remove: move onto one, or click it.");
      return;
    }
    this.spans = this.spans.filter((s) => !gone.includes(s));
    this.tapped = false;
    this.redraw(gone[0].start, gone.at(-1).end);
    if (span) this.select(this.tokensOf(span)[0]);
    this.announce(`Removed ${spansText(gone, this.text)}`);
  }

  send() {
    if (this.active) this.submit(this.chosen);
  }

  cut(span) {
    return this.text.slice(this.units[span.start], this.units[span.end]);
  }

  announce(text) {
    this.where.textContent = text;
  }

  // -- the mouse and touch -------------------------------------------------------------------

  tokenOf(target) {
    const node = target?.closest?.(".tok");
    return node && this.box.contains(node) ? Number(node.dataset.t) : null;
  }

  pointerDown(event) {
    this.pointer = event.pointerType;
    if (!this.active || event.pointerType === "touch" || event.button !== 0) return;
    if (event.target.closest(".span-remove")) return;
    const t = this.tokenOf(event.target) ?? this.markToken(event.target);
    if (t === null || this.early(event)) return;
    event.preventDefault(); // no text selection of the browser's own; the page keeps focus
    if (event.shiftKey && this.focus !== null) {
      this.select(this.anchor, t, true);
      this.drag = { from: this.anchor, moved: true };
    } else {
      // A press on a span already selected goes into it: it selects the one word.
      const span = this.spanAt(t);
      this.drag = { from: t, moved: false, drill: Boolean(span) && this.isSelected(span) };
      this.select(t, t, true);
    }
  }

  pointerMove(event) {
    if (!this.drag || !this.active) return;
    const t = this.tokenOf(document.elementFromPoint(event.clientX, event.clientY));
    if (t === null || t === this.focus) return;
    this.drag.moved = true;
    this.select(this.drag.from, t, true);
  }

  /**
   * The end of a mouse drag. A press that did not move is a click: on a span, it selects the
   * span (a second click, one word of it); elsewhere, the word, as the cursor.
   */
  dragEnd() {
    const drag = this.drag;
    this.drag = null;
    if (!drag || drag.moved || this.focus === null) return;
    const span = this.spanAt(this.focus);
    if (span && !drag.drill) this.selectSpan(span);
    else if (!span) this.select(this.focus);
  }

  // A span's tag stands for its first token.
  markToken(target) {
    const mark = target.closest?.(".span");
    return mark && this.box.contains(mark) ? this.tokensOf({ start: Number(mark.dataset.start), end: Number(mark.dataset.end) })[0] : null;
  }

  /**
   * A tap (a touch screen has no drag that is not a scroll): a tap on a word starts a selection
   * there, or selects the span it is in (a second tap on a span selected: the one word). The
   * next tap extends the selection to the word tapped, as Shift does with keys: from a word,
   * to any word, into a span or across one (labelled, the selection replaces the spans it
   * overlaps); from a span selected, to a word outside any other span (a tap on another span
   * selects that one). The next tap after that starts afresh. A tap on the selection's one word
   * clears it.
   */
  clicked(event) {
    const remove = event.target.closest(".span-remove");
    if (remove) {
      event.preventDefault();
      if (!this.early(event)) this.remove(this.spans.find((s) => String(s.start) === remove.dataset.start));
      return;
    }
    if (this.pointer !== "touch" || !this.active || this.early(event)) return;
    const t = this.tokenOf(event.target) ?? this.markToken(event.target);
    if (t === null) return;
    const span = this.spanAt(t);
    if (span && this.isSelected(span) && this.range[0] !== this.range[1]) {
      this.tapped = "word";
      this.select(t, t, true);
      return;
    }
    const range = this.range;
    const other = span && !(range && this.stretch(range)[0] <= span.start && span.end <= this.stretch(range)[1]);
    if (this.tapped && range && (this.tapped === "word" || !other)) {
      if (t === this.anchor && this.anchor === this.focus) { this.unselect(); return; }
      this.tapped = false;
      this.select(this.anchor, t, true);
    } else if (span) {
      this.tapped = "span";
      this.selectSpan(span);
    } else {
      this.tapped = "word";
      this.select(t);
    }
  }

  // -- keys ----------------------------------------------------------------------------------

  /** Whether `node` is in a control of the page's own, not the editor's (Skip, a link). */
  foreign(node) {
    const control = node.closest?.(CONTROLS);
    return Boolean(control) && !this.group.contains(control) && !this.box?.contains(control)
      && ![this.submitButton, this.removeButton, this.clearButton].includes(control);
  }

  /**
   * A key for the editor, from the page's keydown: true if it was one (and was handled). Enter on
   * another control that has focus (Skip, a link: reached with Tab) is that control's: false.
   */
  key(event) {
    if (!this.active) return false;
    const key = event.key;
    if (key === "Enter" && this.foreign(event.target)) return false;
    const rtl = this.rtl();
    const n = SPAN_KEYS.indexOf(key);
    let act = null;
    if (key === "ArrowRight" || key === "ArrowLeft") {
      const step = (key === "ArrowRight") !== rtl ? 1 : -1;
      act = () => this.move(step, event.shiftKey);
    } else if (key === "Home" || key === "End") {
      act = () => this.move(key === "End" ? this.tokens.length : -this.tokens.length, event.shiftKey);
    } else if (n >= 0 && n < this.labels.length) act = () => this.label(this.labels[n]);
    else if (key === "Backspace" || key === "Delete") act = () => this.remove();
    else if (key === "Escape" && this.focus !== null) act = () => this.unselect();
    else if (key === "Enter") act = () => this.send();
    if (!act) return false;
    event.preventDefault();
    const moving = key.startsWith("Arrow") || key === "Home" || key === "End";
    if (event.repeat && !moving) return true; // a key held down labels, removes or sends once
    if (this.early(event)) return true; // a double press's second press, on the next item
    act();
    return true;
  }

  /** Whether the text reads right to left, as dir="auto" resolved it. */
  rtl() {
    if (!this.box) return false;
    try {
      return this.box.matches(":dir(rtl)");
    } catch {
      return getComputedStyle(this.box).direction === "rtl";
    }
  }

  /**
   * From a capture listener, for a key on a focused button of the editor (reached with Tab):
   * Enter is the page's submit key, never a button's; Space on Submit does nothing but say
   * which key does; Space on a label button or Remove presses it, as on any button.
   */
  guard(event, type) {
    const button = event.target.closest?.("button");
    const own = button && (this.group.contains(button) || [this.submitButton, this.removeButton, this.clearButton].includes(button));
    if (!own) return;
    const space = event.key === " " || event.key === "Spacebar";
    if (event.key === "Enter") { event.preventDefault(); return; } // the page's keydown submits
    if (!space || button !== this.submitButton) return;
    event.preventDefault();
    if (type === "keydown" && !event.repeat) this.say(`Press Enter to ${this.verb} the spans: Space never does.`);
  }

  // -- drawing (spanview.js) ------------------------------------------------------------------

  /** The whole text drawn afresh. */
  render() {
    if (!this.box) return;
    this.view.render();
    this.refresh();
  }

  /** The text between code points `start` and `end` drawn afresh (a span made or removed). */
  redraw(start, end) {
    this.view.redraw(start, end);
    this.refresh();
  }

  /** The selection drawn afresh, the text as it is. */
  paint() {
    this.view.paint();
    this.refresh();
  }

  /** The buttons, and the answer in words, as the spans and the selection stand. */
  refresh() {
    const count = this.spans.length;
    this.submitButton.replaceChildren(count
      ? `${this.submitText} ${count} span${count === 1 ? "" : "s"} ` : `${this.submitText}: no spans `, el("kbd", {}, "Enter"));
    this.submitButton.dataset.empty = count ? "false" : "true";
    this.submitButton.disabled = !this.active;
    const range = this.range;
    const [start, end] = range ? this.stretch(range) : [0, 0];
    this.removeButton.disabled = !this.active || !this.spans.some((s) => s.start < end && start < s.end);
    this.clearButton.disabled = !this.active || !range;
    for (const button of this.group.querySelectorAll("button")) button.disabled = !this.active || !range;
    const head = `${count} span${count === 1 ? "" : "s"}: `;
    if (!count) this.list.replaceChildren(`No spans: ${this.doing} says this text has none.`);
    else if (count <= BRIEF_SPANS) this.list.replaceChildren(head + spansText(this.chosen, this.text));
    else {
      const open = this.list.querySelector("details")?.open ?? false;
      this.list.replaceChildren(expandable([head + spansText(this.chosen, this.text, BRIEF_SPANS)],
        spansText(this.chosen, this.text), { open }));
    }
  }
}
