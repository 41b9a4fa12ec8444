// Two small enhancements of server-rendered pages (no build step, no library).
(function () {
  // Export job page: follow the job (n of total, phase) until it is done, then show the download.
  var el = document.querySelector("[data-export-job]");
  if (el) {
    var url = el.getAttribute("data-export-job");
    var tick = function () {
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (job) {
        var bar = document.getElementById("export-progress");
        if (job.total) { bar.max = job.total; bar.value = job.processed; }
        document.getElementById("export-processed").textContent = job.processed.toLocaleString("en");
        document.getElementById("export-total").textContent = job.total === null ? "…" : job.total.toLocaleString("en");
        document.getElementById("export-phase").textContent = job.phase;
        if (job.status === "done" || job.status === "failed") { window.location.reload(); return; }
        setTimeout(tick, 700);
      }).catch(function () { setTimeout(tick, 1500); });
    };
    setTimeout(tick, 700);
  }
  // On a phone, applied filters fold away behind their summary: the results come first.
  var box = document.querySelector("details.filter-box");
  if (box && box.getAttribute("data-active") !== "0" && window.matchMedia("(max-width: 600px)").matches) {
    box.open = false;
  }
  // Complete tables (every row on the page) sort in place: a heading becomes a button.
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, column) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (row) {
          var cell = row.cells[column];
          var v = cell.getAttribute("data-value");
          var t = v === null ? cell.textContent.trim() : v;
          var n = Number(t.replace(/,/g, ""));
          return t !== "" && !isNaN(n) ? n : t.toLowerCase();
        };
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var c = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
          return ascending ? c : -c;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
