// Live order status for "My orders" and an order's page. The server renders the page with the
// stream position it has seen (data-live-since); this script follows /live/orders from there.
// EventSource reconnects by itself and sends the last event id, so nothing is missed.
(function () {
  "use strict";
  var since = document.body.getAttribute("data-live-since");
  var banner = document.getElementById("live-status");
  if (since === null || !banner || !window.EventSource) {
    return;
  }
  var texts = {
    running: "Order status updates live.",
    paused: "Live updates are paused; reload the page to see the latest status."
  };
  function setLive(state) {
    banner.setAttribute("data-state", state);
    banner.textContent = texts[state];
  }
  var source = new EventSource("/live/orders?since=" + encodeURIComponent(since));
  source.addEventListener("status", function (event) {
    var update = JSON.parse(event.data);
    document.querySelectorAll('[data-order="' + update.order + '"]').forEach(function (cell) {
      cell.textContent = update.label;
      cell.setAttribute("data-status", update.status);
    });
    document.querySelectorAll('[data-cancel="' + update.order + '"]').forEach(function (form) {
      form.hidden = update.status !== "pending";
    });
  });
  source.addEventListener("live", function (event) {
    setLive(event.data === "running" ? "running" : "paused");
  });
  source.addEventListener("resync", function () {
    source.close();
    window.location.reload();
  });
  source.addEventListener("error", function () {
    setLive("paused");
  });
})();
