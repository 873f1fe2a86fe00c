// A project's guidelines and label descriptions, shown to annotators and reviewers. The
// guidelines are light Markdown: headings (#), paragraphs, lists (- or 1.), **bold**, *italic*,
// `code` and [links](https://...). They are made into elements and text nodes here, never into
// HTML, so nothing in them can run or reach the page: a link goes only to http(s) or mailto.
import { $, el } from "/static/lib.js";

const INLINE = /\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)/g;
const SAFE_LINK = /^(https?:|mailto:)/i;

/** A line's inline Markdown as nodes. */
function inline(text) {
  const nodes = [];
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > at) nodes.push(text.slice(at, match.index));
    const [whole, bold, italic, code, linkText, href] = match;
    if (bold !== undefined) nodes.push(el("strong", {}, bold));
    else if (italic !== undefined) nodes.push(el("em", {}, italic));
    else if (code !== undefined) nodes.push(el("code", {}, code));
    else if (SAFE_LINK.test(href)) nodes.push(el("a", { href, target: "_blank", rel: "noopener noreferrer" }, linkText));
    else nodes.push(whole);
    at = match.index + whole.length;
  }
  if (at < text.length) nodes.push(text.slice(at));
  return nodes;
}

/** Light Markdown as a list of block elements. */
export function renderMarkdown(text) {
  const blocks = [];
  let paragraph = [];
  let list = null;
  const endParagraph = () => {
    if (paragraph.length) blocks.push(el("p", { dir: "auto" }, ...inline(paragraph.join(" "))));
    paragraph = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const item = /^([-*]|\d+[.)])\s+(.*)$/.exec(line);
    if (item) {
      endParagraph();
      const tag = /^\d/.test(item[1]) ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) blocks.push(list = el(tag, {}));
      list.append(el("li", { dir: "auto" }, ...inline(item[2])));
      continue;
    }
    list = null;
    if (heading) {
      endParagraph();
      // The page's own headings are h1 and h2: the guidelines' start at h3.
      blocks.push(el(`h${heading[1].length + 2}`, { dir: "auto" }, ...inline(heading[2])));
    } else if (!line) endParagraph();
    else paragraph.push(line);
  }
  endParagraph();
  return blocks;
}

/**
 * Fill the guidelines panel from the project: its text and each label's description. The panel
 * shows only when there is something in it; it starts open the first time this person sees
 * these guidelines (and after they change), closed after they closed it.
 */
export function showGuidelines(project) {
  const panel = $("guidelines");
  const text = project.guidelines ?? "";
  const descriptions = Object.entries(project.label_descriptions ?? {});
  panel.hidden = !text && !descriptions.length;
  if (panel.hidden) return;
  $("guidelines-text").replaceChildren(...renderMarkdown(text));
  $("label-notes").replaceChildren(...descriptions.flatMap(([label, description]) => [
    el("dt", {}, label), el("dd", { dir: "auto" }, description),
  ]));
  $("label-notes").hidden = !descriptions.length;
  const seenKey = `streamloop:guidelines:${project.name}`;
  const version = `${text.length}:${hash(text + JSON.stringify(descriptions))}`;
  const seen = localStorage.getItem(seenKey);
  panel.open = seen !== version;
  // Seen before, and changed since: say so, until closed.
  $("guidelines-updated").hidden = seen === null || seen === version;
  panel.ontoggle = () => {
    if (panel.open) return;
    localStorage.setItem(seenKey, version);
    $("guidelines-updated").hidden = true;
  };
}

/** A short fingerprint of the guidelines: the panel opens again when they change. */
function hash(text) {
  let h = 0;
  for (const char of text) h = (Math.imul(h, 31) + char.codePointAt(0)) | 0;
  return (h >>> 0).toString(36);
}

/** The description of `label`, or "". */
export const describe = (project, label) => project.label_descriptions?.[label] ?? "";
