// A request htmx could not complete says so, in one fixed place that does not move the page: "Not saved, try again".
// htmx leaves the panel as it was when a request fails (htmx:responseError: the server answered 4xx/5xx;
// htmx:sendError: no answer at all), so without this a failed decision looked like a click that did nothing.
// Retrying is safe: a second decision on the same group is refused, never applied twice. No inline script (CSP).
(function () {
  "use strict";
  var box = null;
  var hideTimer = null;

  function ensureBox() {
    if (box) return box;
    box = document.createElement("div");
    box.id = "request-error";
    box.setAttribute("role", "alert");
    box.setAttribute("aria-live", "assertive");
    // Fixed, out of the flow: showing or hiding it never shifts the layout.
    var s = box.style;
    s.position = "fixed";
    s.left = "50%";
    s.bottom = "1.5rem";
    s.transform = "translateX(-50%)";
    s.zIndex = "1000";
    s.maxWidth = "36rem";
    s.padding = "0.75rem 1rem";
    s.borderRadius = "6px";
    s.background = "#7a1f1f";
    s.color = "#fff";
    s.boxShadow = "0 4px 16px rgba(0, 0, 0, 0.25)";
    s.font = "inherit";
    s.display = "none";
    var text = document.createElement("span");
    text.className = "request-error-text";
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "Dismiss";
    close.setAttribute("aria-label", "Dismiss this message");
    close.style.marginLeft = "1rem";
    close.addEventListener("click", hide);
    box.appendChild(text);
    box.appendChild(close);
    document.body.appendChild(box);
    return box;
  }

  function verb(evt) {
    var cfg = evt.detail && evt.detail.requestConfig;
    var method = (cfg && cfg.verb ? cfg.verb : "get").toUpperCase();
    return method === "GET" ? "Could not load" : "Not saved";
  }

  function show(message) {
    var b = ensureBox();
    b.querySelector(".request-error-text").textContent = message;
    b.style.display = "block";
    if (hideTimer) clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, 15000);
  }

  function hide() {
    if (box) box.style.display = "none";
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail && evt.detail.xhr ? evt.detail.xhr.status : 0;
    var why = status >= 500 ? "something went wrong on our side" : "the request was refused";
    show(verb(evt) + ": " + why + " (" + status + "). Try again in a moment.");
  });
  document.addEventListener("htmx:sendError", function (evt) {
    show(verb(evt) + ": Matchdesk could not be reached. Check your connection and try again.");
  });
  // The next request that succeeds clears the message.
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (evt.detail && evt.detail.successful) hide();
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") hide();
  });
})();
