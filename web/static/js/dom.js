// Building the DOM by hand, the one helper every page's script uses (the desks, /admin): no
// framework and no build step, so a page is the HTML the server sends plus these calls.
//
//   el("button", { type: "button", class: "danger", onclick: fn, dataset: { id } }, "text", node)
//   fill(node, ...children)   -> node, its children replaced

// An element with its attributes and children. An attribute that is undefined, null or false
// is left off (true sets it empty, as for `selected`); `dataset` sets data-*; `text` sets the
// text; `on…` adds that event's listener. Children that are null, undefined or false are left
// out, so `cond && el(…)` may stand in a list of children.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// replaceChildren without the parts a view leaves out (null): the DOM would print them as "null".
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}
