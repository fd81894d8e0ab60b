/* Parley console inbox: "select all" for bulk acknowledgment, and no live refresh while
   boxes are ticked (a refresh would silently drop the operator's selection). */
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t && t.id === "pick-all") {
      var boxes = document.querySelectorAll("#message-list input[name=id]");
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = t.checked;
    }
  });
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var el = ev.detail && ev.detail.elt;
    if (el && el.id === "inbox" && document.querySelector("#message-list input[name=id]:checked")) {
      ev.preventDefault();
    }
  });
})();
