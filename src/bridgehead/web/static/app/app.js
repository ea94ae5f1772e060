// Small progressive enhancements; every page works without them.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.requestSubmit();
  }
  // htmx wires up swapped-in content only after its settle delay; a change made inside that window
  // would be lost. The listener here is the document's, so it never misses one: it re-announces the
  // change as "rerender", which a stable ancestor (never swapped itself) turns into the request.
  if (target instanceof HTMLElement && target.hasAttribute("data-rerender-on-change")) {
    target.dispatchEvent(new CustomEvent("rerender", { bubbles: true }));
  }
});
