// docctl's only script (CSP script-src 'self'): progress of htmx uploads.
(function () {
  "use strict";
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    var box = form ? form.querySelector(".progress") : null;
    if (!box || !event.detail.lengthComputable) { return; }
    var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    box.hidden = false;
    box.querySelector("progress").value = percent;
    box.querySelector(".progress-text").textContent =
      percent < 100 ? percent + " %" : "100 %: checking the file and making the PDF rendition…";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest ? event.target.closest("form") : null;
    var box = form ? form.querySelector(".progress") : null;
    if (box && (!event.detail.successful || event.detail.xhr.status >= 400)) { box.hidden = true; }
  });
})();
