/* Zoom and pan for the inline pathway pictures of netcds pages (no library, no network).
   Every figure of class "zoomable" holds one inline svg element and buttons with data-zoom="in",
   "out" or "reset". The buttons change the SVG viewBox; dragging the picture moves it.
   Before printing, every picture goes back to its whole view. Without JavaScript the
   pictures are shown whole and the buttons stay hidden. */
(function () {
  "use strict";
  function setup(figure) {
    var svg = figure.querySelector("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) { return; }
    var base = svg.viewBox.baseVal;
    var home = [base.x, base.y, base.width, base.height];
    var box = home.slice();
    function show() { svg.setAttribute("viewBox", box.join(" ")); }
    function zoom(factor) {
      var w = box[2] * factor, h = box[3] * factor;
      if (w > home[2] * 1.5 || w < home[2] / 20) { return; }
      box = [box[0] + (box[2] - w) / 2, box[1] + (box[3] - h) / 2, w, h];
      show();
    }
    function reset() { box = home.slice(); show(); }
    figure.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var what = button.getAttribute("data-zoom");
        if (what === "in") { zoom(1 / 1.4); } else if (what === "out") { zoom(1.4); } else { reset(); }
      });
    });
    var drag = null;
    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) { return; }
      drag = { x: event.clientX, y: event.clientY, box: box.slice() };
      svg.setPointerCapture(event.pointerId);
      svg.classList.add("dragging");
    });
    svg.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      var rect = svg.getBoundingClientRect();
      var scale = Math.max(drag.box[2] / rect.width, drag.box[3] / rect.height);
      box = [drag.box[0] - (event.clientX - drag.x) * scale, drag.box[1] - (event.clientY - drag.y) * scale,
             drag.box[2], drag.box[3]];
      show();
    });
    function stop() { drag = null; svg.classList.remove("dragging"); }
    svg.addEventListener("pointerup", stop);
    svg.addEventListener("pointercancel", stop);
    window.addEventListener("beforeprint", reset);
    figure.classList.add("zoom-ready");
  }
  function start() { document.querySelectorAll("figure.zoomable").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
