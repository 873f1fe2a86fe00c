// A span project's text in code points: offsets on the wire are Unicode code points (Python
// string indices), end exclusive, where a JavaScript string counts UTF-16 units (which differ
// past the first plane: emoji, some CJK); the server's tokenizer, for a text sent without its
// tokens; spans in one order, and in words.

/**
 * The UTF-16 offset of each code point of `text`, and one past the last: `units[i]` is where
 * code point i starts (`units[n]` is text.length).
 */
export function codeUnits(text) {
  const units = [0];
  let at = 0;
  for (const char of text) {
    at += char.length;
    units.push(at);
  }
  return units;
}

// The server's tokenizer (streamloop.online.spans.tokenize), for a text sent without its
// tokens: a flag, a run of word characters, or any other character but a space; marks, joiners,
// skin tones and tag characters stay with the token before them.
const TOKEN = /[\u{1F1E6}-\u{1F1FF}]{2}|[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu;
const attaches = (char) => /^[\p{M}\u200c\u200d\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]$/u.test(char);
const wordy = (char) => /^[\p{L}\p{N}_]$/u.test(char);

/** A text's tokens as [start, end] code-point offsets, as the server cuts them. */
export function tokenize(text) {
  const units = codeUnits(text);
  const point = new Map(units.map((unit, i) => [unit, i])); // UTF-16 offset → code point
  const chars = Array.from(text);
  const tokens = [];
  for (const match of text.matchAll(TOKEN)) {
    const start = point.get(match.index);
    const end = point.get(match.index + match[0].length);
    const before = tokens.at(-1);
    const joined = before && before[1] === start && (attaches(chars[start])
      || /[\u200c\u200d]/.test(chars[before[1] - 1])
      || (/\p{M}/u.test(chars[before[1] - 1]) && wordy(chars[before[0]]) && wordy(chars[start])));
    if (joined) before[1] = end; else tokens.push([start, end]);
  }
  return tokens;
}

/** Spans in the one order answers are compared and sent in: by start, then end. */
export function normalSpans(spans) {
  return spans.map(({ start, end, label }) => ({ start, end, label }))
    .sort((a, b) => a.start - b.start || a.end - b.end || (a.label < b.label ? -1 : 1));
}

/** The words of `span` in `text` (offsets in code points; `units`: codeUnits(text)). */
export function spanWords(span, text, units = codeUnits(text)) {
  return text.slice(units[span.start], units[span.end]);
}

/** How many spans a summary names before "and N more": a long text's list stays a line or two. */
export const BRIEF_SPANS = 5;

/**
 * A span answer in words: `PER “Ada”, ORG “IBM”`, or "no spans"; past `limit` spans, the first
 * `limit` of them and how many more: `PER “Ada”, … ORG “IBM”, and 94 more`.
 */
export function spansText(spans, text, limit = Infinity) {
  if (!spans.length) return "no spans";
  const units = codeUnits(text);
  const named = spans.slice(0, limit).map((s) => `${s.label} “${spanWords(s, text, units)}”`).join(", ");
  return spans.length > limit ? `${named}, and ${spans.length - limit} more` : named;
}
