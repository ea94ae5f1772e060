// Draws every [data-chart-spec] element with the vendored vega-embed. The expression interpreter
// (vega-interpreter, ast: true) keeps vega from compiling code at run time, so the page's
// Content-Security-Policy needs no 'unsafe-eval'.
(function () {
  "use strict";

  async function draw(element) {
    if (element.dataset.drawn) return;
    element.dataset.drawn = "1";
    try {
      const response = await fetch(element.dataset.chartSpec, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("the server answered " + response.status);
      const spec = await response.json();
      // The card decides the width on the page; the fixed width stays for PNG/SVG exports.
      if (!spec.hconcat && !spec.vconcat && !spec.concat) {
        spec.width = "container";
        spec.autosize = { type: "fit", contains: "padding" };
      }
      await window.vegaEmbed(element, spec, {
        actions: false,
        renderer: "svg",
        ast: true,
        expr: window.vegaInterpreter.expressionInterpreter,
      });
      element.setAttribute("data-chart-ready", "true");
    } catch (error) {
      element.textContent = "This chart could not be drawn (" + error.message + "); its data is still available as CSV below.";
      element.setAttribute("data-chart-error", "true");
    }
  }

  function drawAll(root) {
    root.querySelectorAll("[data-chart-spec]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", () => drawAll(document));
  document.addEventListener("htmx:afterSettle", (event) => drawAll(event.target));
})();
