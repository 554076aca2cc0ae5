// Threshold editor: each slider mirrors its number input (the number input is what the form submits), so dragging
// and typing both fire the form's htmx preview.
(function () {
  var form = document.getElementById("threshold-form");
  if (!form) return;
  form.querySelectorAll("input[type=range][data-sync]").forEach(function (range) {
    var number = form.querySelector("input[name=" + range.dataset.sync + "]");
    if (!number) return;
    range.addEventListener("input", function () { number.value = Number(range.value).toFixed(3); });
    number.addEventListener("input", function () {
      var v = Number(number.value);
      if (number.value !== "" && !isNaN(v)) range.value = v;
    });
  });
})();
