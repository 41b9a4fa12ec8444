// Export job page: poll the job and update the progress bar until it is done (no build step, no library).
(function () {
  var el = document.querySelector("[data-export-job]");
  if (!el) return;
  var url = el.getAttribute("data-export-job");
  function tick() {
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (job) {
      var bar = document.getElementById("export-progress");
      bar.value = job.progress_pct;
      document.getElementById("export-status").textContent = job.status + " (" + job.progress_pct + " %)";
      if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
      setTimeout(tick, 700);
    }).catch(function () { setTimeout(tick, 1500); });
  }
  setTimeout(tick, 700);
})();
