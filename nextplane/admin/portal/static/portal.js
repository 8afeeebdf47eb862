// Draws the overview's charts from the numbers the server put in the page
// (#chart-data); the same numbers are in each chart's table. No build step.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  var palette = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#6b7280"];
  var charts = JSON.parse(source.textContent);
  charts.forEach(function (spec) {
    var canvas = document.getElementById(spec.id);
    if (!canvas) {
      return;
    }
    // Messages add up across groups, so they stack; unique users do not
    // (one person may write to two domains), so their bars stand side by side.
    var several = spec.series.length > 1;
    var stacked = several && spec.metric === "messages";
    new Chart(canvas, {
      type: several || spec.metric === "messages" ? "bar" : "line",
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (series, i) {
          var colour = palette[i % palette.length];
          return {
            label: series.name,
            data: series.values,
            backgroundColor: colour,
            borderColor: colour,
            tension: 0.2
          };
        })
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: several, position: "bottom" } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  });
})();
