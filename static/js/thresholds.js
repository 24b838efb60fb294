// Version page: each threshold slider's readout (swapped in by htmx) carries the recall and
// precision at its threshold; move that concept's ringed dot on the PR chart to match.
(() => {
  "use strict";
  const W = 240, H = 160; // the chart's size in SVG units (training.selectors.CHART_W/H)

  function place(readout) {
    const point = document.getElementById(`slider-point-${readout.dataset.concept}`);
    if (!point) return;
    const recall = parseFloat(readout.dataset.recall);
    const precision = parseFloat(readout.dataset.precision);
    if (Number.isNaN(recall) || Number.isNaN(precision)) {
      point.setAttribute("visibility", "hidden");
      return;
    }
    point.setAttribute("cx", (recall * W).toFixed(1));
    point.setAttribute("cy", ((1 - precision) * H).toFixed(1));
    point.setAttribute("visibility", "visible");
  }

  document.addEventListener("htmx:afterSwap", (event) => {
    const readout = event.detail.target.querySelector(".threshold-readout");
    if (readout) place(readout);
  });
})();
