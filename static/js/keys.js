// Keyboard shortcuts. Pages declare them with data-key on links and buttons: pressing the key clicks the element.
// "?" opens the help dialog. Keys are ignored while typing in a field.
(function () {
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  var pending = null;
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(ev.target)) return;
    var key = ev.key;
    if (key === "?") {
      var help = document.getElementById("help");
      if (help && !help.open) { help.showModal(); ev.preventDefault(); }
      return;
    }
    var combo = pending ? pending + " " + key : key;
    pending = null;
    var target = document.querySelector('[data-key="' + CSS.escape(combo) + '"]');
    if (!target && key === "g") { pending = "g"; return; }
    if (!target) return;
    ev.preventDefault();
    if (target.matches("input[type=checkbox], input[type=radio]")) { target.click(); target.focus(); }
    else if (target.matches("input, select, textarea")) { target.focus(); }
    else { target.click(); }
  });
})();
