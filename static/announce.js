// What a screen reader says when an item appears on the annotate or review page. The item card
// is no live region: one would read every label button and key hint again on each item. A
// small status line says instead "New item:" and the item's first words. It follows the card's
// data-item-id, which the page sets on each item it shows (an item brought back to correct, or
// offered again after a lease ran out, too), so the page's own script needs no part in it:
//   <p role="status" class="visually-hidden" data-announces="item"></p>
// announces the item of the card whose id is "item".

/** How many of an item's words the line says: enough to tell it, short enough to hear. */
const WORDS = 8;

/** The first words of an item's content: its text (a span project's without its spans' label
 *  tags), or a table's fields and values in reading order. */
export function firstWords(content) {
  const source = content.querySelector(".span-text, .text");
  let text;
  if (source) {
    const copy = source.cloneNode(true);
    for (const tag of copy.querySelectorAll(".span-tag, .span-remove")) tag.remove();
    text = copy.textContent;
  } else {
    text = [...content.querySelectorAll("th, td")].map((cell) => cell.textContent).join(" ") || content.textContent;
  }
  const words = text.trim().split(/\s+/).filter(Boolean);
  return words.slice(0, WORDS).join(" ") + (words.length > WORDS ? "…" : "");
}

/** Say on `line` each item shown in `card`. */
export function announceItems(card, line) {
  // An observer's records come after the script that set the id has run to its end: by then the
  // item's content is on the page.
  new MutationObserver(() => {
    if (card.hidden || !card.dataset.itemId) return;
    const content = card.querySelector("#content") ?? card;
    line.textContent = `New item: ${firstWords(content)}`;
  }).observe(card, { attributes: true, attributeFilter: ["data-item-id"] });
}

for (const line of document.querySelectorAll("[data-announces]")) {
  announceItems(document.getElementById(line.dataset.announces), line);
}
