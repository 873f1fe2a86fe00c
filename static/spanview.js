// A span project's text as the span editor (spans.js) shows it: each token a `.tok` element,
// its bidi controls shown as marks (lib.js shownText) that reorder nothing, offsets unchanged,
// each span a `<mark>` of its tokens in its label's colour, with its label's name, the model's
// score when it suggested the span, and a remove button; the selection and cursor as classes.
// A change redraws its own stretch of the text only, and a move only repaints the selection,
// so that a long text stays quick to work in.
import { el, shownText } from "/static/lib.js";

/** How many colours labels take in turn (style.css: `[data-hue]`). */
export const HUES = 8;

/** A click leaves no button focused, where a later Space or Enter would find it. */
export const keepFocus = (event) => event.preventDefault();

/**
 * A summary that opens on demand: `summary` (a line: the first few spans and how many more)
 * as a <details>' summary, `full` (all of them) inside. `open`: shown open (as it was).
 */
export function expandable(summary, full, { open = false } = {}) {
  return el("details", { class: "span-more", open },
    el("summary", {}, ...summary, el("span", { class: "more-hint" }, " (show all)")),
    el("p", { class: "span-all" }, full));
}

/** A score as the span's tag and tooltip say it: "83 %". */
const scorePercent = (score) => `${Math.round(100 * score)} %`;

/**
 * The drawing of `editor`'s text in its box (`editor.box`), from its text, tokens, spans and
 * selection, which it reads and never changes.
 */
export class SpanView {
  constructor(editor) {
    this.editor = editor;
  }

  /** The whole text drawn afresh. */
  render() {
    const ed = this.editor;
    if (!ed.box) return;
    const pieces = ed.tokens.length ? this.pieces(0, ed.tokens.length - 1) : [];
    const before = ed.text.slice(0, ed.units[ed.tokens[0]?.[0] ?? ed.units.length - 1]);
    const after = ed.text.slice(ed.units[ed.tokens.at(-1)?.[1] ?? ed.units.length - 1]);
    ed.box.replaceChildren(...shownText(before), ...pieces, ...shownText(after));
    ed.box.dataset.active = ed.active ? "true" : "false";
    this.paint();
  }

  /**
   * The text between code points start and end drawn afresh, the rest left as it is: a span
   * made or removed in a long text redraws its own words only. Each end is a span's or a
   * token's edge (spans never cross the stretch's ends).
   */
  redraw(start, end) {
    const ed = this.editor;
    const first = ed.tokens.findIndex(([, e]) => e > start);
    let last = first;
    while (last + 1 < ed.tokens.length && ed.tokens[last + 1][0] < end) last += 1;
    // The box's children holding the first and last tokens (a token, or the mark it is in).
    const top = (t) => {
      let node = ed.box.querySelector(`.tok[data-t="${t}"]`);
      while (node.parentNode !== ed.box) node = node.parentNode;
      return node;
    };
    const from = top(first);
    const to = top(last);
    const next = to.nextSibling;
    for (let node = from; node !== next;) {
      const after = node.nextSibling;
      node.remove();
      node = after;
    }
    const fragment = document.createDocumentFragment();
    fragment.append(...this.pieces(first, last));
    ed.box.insertBefore(fragment, next);
    this.paint();
  }

  /**
   * Tokens first..last (whole spans: no span crosses either end) and the text between them, as
   * the box's children: a token is a `.tok` (its index in data-t), a span a `mark.span`.
   */
  pieces(first, last) {
    const ed = this.editor;
    const pieces = [];
    let at = ed.tokens[first][0]; // code points drawn so far
    const gap = (to) => {
      if (to > at) pieces.push(...shownText(ed.text.slice(ed.units[at], ed.units[to])));
      at = Math.max(at, to);
    };
    const token = (t) => {
      const [start, end] = ed.tokens[t];
      at = end;
      return el("span", { class: "tok", "data-t": t, "data-start": start, "data-end": end },
        ...shownText(ed.text.slice(ed.units[start], ed.units[end])));
    };
    let t = first;
    const [lo, hi] = [ed.tokens[first][0], ed.tokens[last][1]];
    for (const span of ed.spans.filter((s) => s.start < hi && lo < s.end)) {
      while (t <= last && ed.tokens[t][1] <= span.start) {
        gap(ed.tokens[t][0]);
        pieces.push(token(t++));
      }
      gap(span.start);
      const inner = [];
      while (t <= last && ed.tokens[t][0] < span.end) {
        const [start] = ed.tokens[t];
        if (start > at) inner.push(...shownText(ed.text.slice(ed.units[at], ed.units[start])));
        inner.push(token(t++));
      }
      pieces.push(this.mark(span, inner));
      at = span.end;
    }
    while (t <= last) {
      gap(ed.tokens[t][0]);
      pieces.push(token(t++));
    }
    return pieces;
  }

  /**
   * The selection and cursor drawn on the text as drawn, its spans unchanged: classes only, so
   * that a key held down in a long text is cheap.
   */
  paint() {
    const ed = this.editor;
    const range = ed.range;
    for (const node of ed.box.querySelectorAll(".tok")) {
      const t = Number(node.dataset.t);
      node.classList.toggle("selected", Boolean(range) && t >= range[0] && t <= range[1]);
      node.classList.toggle("cursor", t === ed.focus);
    }
    for (const mark of ed.box.querySelectorAll("mark.span")) {
      mark.classList.toggle("selected", ed.isSelected({ start: Number(mark.dataset.start), end: Number(mark.dataset.end) }));
    }
  }

  /**
   * A span's mark: its words, then its label's tag and its remove button, which stay on the
   * line of its last word (a line never starts with a tag).
   */
  mark(span, inner) {
    const ed = this.editor;
    const hue = ed.labels.indexOf(span.label) % HUES;
    const text = ed.cut(span);
    const suggested = span.origin === "suggested";
    const score = typeof span.score === "number" ? scorePercent(span.score) : null;
    const range = ed.range;
    const selected = range && ed.stretch(range)[0] === span.start && ed.stretch(range)[1] === span.end;
    const about = `${span.label}: “${text}”${suggested ? `, suggested by the model${score ? `, ${score} sure` : ""}` : ""}`;
    return el("mark", {
      class: selected ? "span selected" : "span",
      "data-label": span.label, "data-start": span.start, "data-end": span.end, "data-hue": hue,
      "data-origin": span.origin ?? null,
      "aria-label": about,
      title: about,
      style: score ? { "--score": span.score.toFixed(3) } : undefined,
    }, ...inner.slice(0, -1), el("span", { class: "span-end" }, inner.at(-1),
      // The tag is isolated from the text around it, the score from the label: in a
      // right-to-left text "LOC 97 %" reads so, never "% LOC 97".
      el("span", { class: "span-tag", dir: "auto" }, span.label,
        score && suggested ? el("small", { class: "span-score", dir: "ltr" }, ` ${score}`) : null),
      el("button", {
        type: "button", class: "span-remove", "data-start": span.start, tabindex: "-1",
        "aria-label": `Remove ${span.label} “${text}”`, title: `Remove ${span.label} “${text}”`,
        onmousedown: keepFocus, disabled: !ed.active,
      }, "×")));
  }
}
