// Draws the three-gap board's charts: each [data-inline-spec] names a JSON script element holding a
// Vega-Lite spec, embedded with the vendored vega-embed (expression interpreter, no eval; see charts.js).
(function () {
  "use strict";

  async function draw(element) {
    if (element.dataset.drawn) return;
    element.dataset.drawn = "1";
    const source = document.getElementById(element.dataset.inlineSpec);
    if (!source) return;
    try {
      const spec = JSON.parse(source.textContent);
      // A full chart takes its card's width (the spec's fixed width would be clipped); sparklines keep theirs.
      if (element.classList.contains("chart") && !spec.hconcat && !spec.vconcat) {
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
      element.textContent = "trend unavailable";
      element.setAttribute("data-chart-error", "true");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-inline-spec]").forEach(draw);
  });
})();
