// Keyboard shortcuts. Pages declare them with data-key on links and buttons: pressing the key clicks the element
// (an input is focused instead). "?" opens the help dialog. Keys are ignored while typing in a field, except
// Enter in a field with data-enter-click (clicks that element) and Escape (leaves the field).
//
// Rows marked data-row can be walked with j/k (the focused one has .row-focus). In the focused row, the digits 1-9
// click the element with data-choice="N" (a radio: the main profile, the source of a field); Enter or "o" follows its
// [data-open] link. Split mode (the [data-split-toggle] button, "x"): digits toggle [data-keep="N"], Enter clicks
// #btn-split, Escape leaves. Everything here is a shortcut for a plain form control that works without JavaScript.
(function () {
  document.documentElement.classList.add("js");
  // The Content-Security-Policy allows no inline <style> and no eval: htmx must not inject its indicator styles
  // (runs before htmx's own start, both scripts being deferred in order) nor evaluate attributes.
  if (window.htmx) {
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
  }

  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    if (el.tagName === "INPUT") return !/^(checkbox|radio|button|submit|reset)$/i.test(el.type);
    return /^(TEXTAREA|SELECT)$/.test(el.tagName);
  }
  function visible(el) { return el.getClientRects().length > 0; }
  function rows() { return Array.prototype.filter.call(document.querySelectorAll("[data-row]"), visible); }

  var focusIndex = 0;
  function focusRow(i) {
    var all = rows();
    if (!all.length) return null;
    focusIndex = Math.max(0, Math.min(i, all.length - 1));
    all.forEach(function (r, j) { r.classList.toggle("row-focus", j === focusIndex); });
    all[focusIndex].scrollIntoView({ block: "nearest", inline: "nearest" });
    return all[focusIndex];
  }
  function focusedRow() { var all = rows(); return all[Math.min(focusIndex, all.length - 1)] || null; }
  function splitMode() { return document.body.classList.contains("split-mode"); }
  function setSplit(on) {
    document.body.classList.toggle("split-mode", on);
    if (on) { var keep = document.querySelector("[data-row=keep]"); if (keep) focusRow(rows().indexOf(keep)); }
    else { focusRow(0); }
  }

  // The main profile's column is highlighted and tints the cells; fields the steward has not touched follow the main profile.
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    if (t.name === "main" && t.type === "radio") {
      var col = t.getAttribute("data-choice");
      document.querySelectorAll("[data-col]").forEach(function (c) {
        c.classList.toggle("is-main", c.getAttribute("data-col") === col);
      });
      // Tints follow the chosen main: each cell carries its relation against every column's value (data-rels).
      document.querySelectorAll("td.cell[data-rels]").forEach(function (td) {
        var rel = td.getAttribute("data-rels").split(" ")[parseInt(col, 10) - 1];
        td.classList.remove("r-exact", "r-equivalent", "r-similar", "r-different");
        if (rel) td.classList.add("r-" + rel);
      });
      document.querySelectorAll("tr.conflict").forEach(function (tr) {
        if (tr.hasAttribute("data-touched")) return;
        var mine = tr.querySelector('input[type=radio][value="' + CSS.escape(t.value) + '"]');
        if (mine) mine.checked = true;
      });
    } else if (t.name && t.name.indexOf("src:") === 0) {
      var row = t.closest("tr");
      if (row) row.setAttribute("data-touched", "");
    }
  });
  document.addEventListener("click", function (ev) {
    var toggle = ev.target.closest && ev.target.closest("[data-split-toggle]");
    if (toggle) { ev.preventDefault(); setSplit(!splitMode()); }
  });
  // Reset in the same task as the swap (not on settle, which comes later than the next keypress may).
  document.addEventListener("htmx:beforeSwap", function () { document.body.classList.remove("split-mode"); });
  // htmx gives focus back to an element of the same id; a steward who rejected from the reason field must not
  // type the next shortcut into the next group's fields.
  document.addEventListener("htmx:afterSwap", function () {
    var active = document.activeElement;
    if (active && active !== document.body && active.closest("#group-panel")) active.blur();
    focusRow(0);
  });
  document.addEventListener("DOMContentLoaded", function () { if (rows().length) focusRow(0); });

  // Behaviours that would otherwise be inline handlers or style attributes (the Content-Security-Policy allows none):
  // [data-select-all="selector"] checks or unchecks what the selector finds; a select[data-autosubmit] submits its
  // form on change; [data-width="37"] / [data-left="12"] set those percentages, [data-bg="#1f7a4d"] a colour
  // (through the CSSOM, which the policy allows, unlike style attributes).
  document.addEventListener("change", function (ev) {
    var t = ev.target;
    var sel = t.getAttribute && t.getAttribute("data-select-all");
    if (sel) document.querySelectorAll(sel).forEach(function (c) { c.checked = t.checked; });
    if (t.matches && t.matches("select[data-autosubmit]") && t.form) t.form.requestSubmit ? t.form.requestSubmit() : t.form.submit();
  });
  function percent(el, name) {
    var v = parseFloat(el.getAttribute(name));
    return isNaN(v) ? null : Math.max(0, Math.min(100, v)) + "%";
  }
  function applyWidths(root) {
    (root || document).querySelectorAll("[data-width], [data-left], [data-bg]").forEach(function (el) {
      var w = percent(el, "data-width"), l = percent(el, "data-left"), bg = el.getAttribute("data-bg");
      if (w !== null) el.style.width = w;
      if (l !== null) el.style.left = l;
      if (bg && /^#[0-9a-f]{3,8}$/i.test(bg)) el.style.background = bg;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { applyWidths(); });
  document.addEventListener("htmx:afterSwap", function (ev) { applyWidths(ev.target.parentNode || document); });

  // A claim ends when the steward leaves the group: by a link of the page, another tab's navigation or closing
  // the tab. The panel names its release URL while the steward holds the group ([data-release-url]); pagehide
  // sends it as a beacon (a POST with the CSRF token that survives the page going away). The lease is the backstop.
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }
  window.addEventListener("pagehide", function () {
    var held = document.querySelector("[data-release-url]");
    if (!held || !navigator.sendBeacon) return;
    var form = new FormData();
    form.append("csrfmiddlewaretoken", csrfToken());
    form.append("beacon", "1");
    navigator.sendBeacon(held.getAttribute("data-release-url"), form);
  });

  var pending = null;
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (typing(t)) {
      if (ev.key === "Enter" && !ev.shiftKey && t.getAttribute("data-enter-click")) {
        var button = document.querySelector(t.getAttribute("data-enter-click"));
        if (button) { ev.preventDefault(); button.click(); }
      } else if (ev.key === "Escape") {
        t.blur();
      }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var key = ev.key;
    if (key === "?") {
      var help = document.getElementById("help");
      if (help && !help.open) { help.showModal(); ev.preventDefault(); }
      return;
    }
    if (pending === null) {
      if (key === "j" || key === "k") {
        if (rows().length) { ev.preventDefault(); focusRow(focusIndex + (key === "j" ? 1 : -1)); }
        return;
      }
      if (/^[1-9]$/.test(key)) {
        var choice = splitMode()
          ? document.querySelector('[data-keep="' + key + '"]')
          : (focusedRow() && focusedRow().querySelector('[data-choice="' + key + '"]'));
        if (choice && !choice.disabled) { ev.preventDefault(); choice.click(); }
        return;
      }
      if (key === "Enter" || key === "o") {
        if (splitMode() && key === "Enter") {
          var split = document.getElementById("btn-split");
          if (split) { ev.preventDefault(); split.click(); }
          return;
        }
        var row = focusedRow();
        var open = row && row.querySelector("[data-open]");
        if (open) { ev.preventDefault(); open.click(); }
        return;
      }
      if (key === "Escape" && splitMode()) { setSplit(false); return; }
    }
    var combo = pending ? pending + " " + key : key;
    pending = null;
    var target = document.querySelector('[data-key="' + CSS.escape(combo) + '"]');
    if (!target && key === "g") { pending = "g"; return; }
    if (!target) return;
    ev.preventDefault();
    if (target.matches("input[type=checkbox], input[type=radio]")) { target.click(); }
    else if (target.matches("input, select, textarea")) { target.focus(); }
    else {
      // htmx binds swapped-in content only after its settle delay (20 ms): a key pressed in that window would post
      // the panel's form natively (a full page load, the queue page instead of the next group). Bind it now; htmx
      // skips elements it has already bound.
      var host = target.form || target.closest("[hx-post], [hx-get]");
      if (host && window.htmx) window.htmx.process(host);
      target.click();
    }
  });
})();
